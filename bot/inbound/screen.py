"""Screen an inbound text from memory, before the database is touched (SPEC §10).

Rules:
- The webhook screens every text first, with the safety matcher in force
  (bot.crisis.safe_matcher: the flow store's current snapshot, which never
  waits on a reload; the built-in phrases if the store fails). The verdict is
  passed down to routing and to the spool, so the decision is made once and
  the crisis (or concern) reply is known even when the database never answers.
- The text is read with the same number's previous text of the last
  PREVIOUS_WINDOW (10 minutes), so "I want to" + "die" is one crisis. This
  process keeps the last text per number in RecentTexts (bot/core/recent_texts.py): in memory only,
  never logged or written, at most MAX_NUMBERS numbers (the least recently
  heard is dropped first) and the last KEPT_CHARS characters of each text.
- A previous text that reached another worker is not in that cache, so the
  processing path, once the database answers, also reads the previous stored
  inbound text from that number (`settle`) and keeps the higher tier. It
  never lowers the webhook's verdict.
- Both reads go through `_screen`, which remembers the last MEMO verdicts
  (in memory, never logged): when the stored previous text is the one the
  webhook read, `settle` costs a lookup, not a second screen. A reload makes
  a new matcher, so a remembered verdict never outlives its phrases.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.recent_texts import PREVIOUS_WINDOW
from bot.flows.safety import SafetyMatcher, Tier, Verdict
from bot.inbound.crisis import safe_matcher
from bot.models import INBOUND, Message
from bot.services import Services

_ORDER = (Tier.NONE, Tier.CONCERN, Tier.CRISIS)
MEMO = 512  # verdicts remembered: more than the texts a worker takes in a second


class _Memo:
    """The last MEMO verdicts, by matcher (its identity: a frozen matcher hashes every phrase)."""

    def __init__(self, size: int):
        self._size = size
        self._items: OrderedDict[tuple[int, str, str | None],
                                 tuple[SafetyMatcher, Verdict]] = OrderedDict()
        self._lock = threading.Lock()

    def screen(self, matcher: SafetyMatcher, body: str, previous: str | None) -> Verdict:
        """Return `matcher`'s verdict on `body` read after `previous` (a repeat is remembered)."""
        key = (id(matcher), body, previous)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] is matcher:
                self._items.move_to_end(key)
                return hit[1]
        verdict = matcher.screen(body, previous=previous)
        with self._lock:
            self._items[key] = (matcher, verdict)  # the matcher is held: its id is not reused
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return verdict


_screen = _Memo(MEMO).screen


def screen_inbound(services: Services, phone: str, body: str, now: datetime) -> Verdict:
    """Return the verdict on a new text, read after the number's previous one; remember it."""
    recent = services.recent_texts
    verdict = _screen(safe_matcher(services), body, recent.previous(phone, now))
    recent.remember(phone, now, body)
    return verdict


def higher(a: Verdict, b: Verdict) -> Verdict:
    """Return the more serious of two verdicts (the first when equal)."""
    return b if _ORDER.index(b.tier) > _ORDER.index(a.tier) else a


def previous_stored(session: Session, message: Message) -> str | None:
    """Return the body of the number's stored inbound text just before `message`, if recent."""
    return session.scalar(
        select(Message.body).where(
            Message.phone == message.phone, Message.direction == INBOUND,
            Message.id != message.id, Message.created_at <= message.created_at,
            Message.created_at >= message.created_at - PREVIOUS_WINDOW)
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(1))


UNREAD: Any = object()  # settle's `previous` when it has not been read yet


def settle(session: Session, services: Services, message: Message, verdict: Verdict | None,
           previous: str | None = UNREAD) -> Verdict:
    """Return the verdict routing acts on: the webhook's, raised by the stored previous text.

    `previous` is that text when the caller read it already (bot/inbound/reading.py).
    """
    if verdict is not None and verdict.tier is Tier.CRISIS:
        return verdict
    stored = previous_stored(session, message) if previous is UNREAD else previous
    if verdict is not None and stored is None:
        return verdict  # nothing the webhook could have missed
    found = _screen(safe_matcher(services), message.body or "", stored)
    return found if verdict is None else higher(verdict, found)
