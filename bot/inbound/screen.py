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
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.recent_texts import PREVIOUS_WINDOW
from bot.flows.safety import Tier, Verdict
from bot.inbound.crisis import safe_matcher
from bot.models import Message
from bot.services import Services

_ORDER = (Tier.NONE, Tier.CONCERN, Tier.CRISIS)


def screen_inbound(services: Services, phone: str, body: str, now: datetime) -> Verdict:
    """Return the verdict on a new text, read after the number's previous one; remember it."""
    recent = services.recent_texts
    verdict = safe_matcher(services).screen(body, previous=recent.previous(phone, now))
    recent.remember(phone, now, body)
    return verdict


def higher(a: Verdict, b: Verdict) -> Verdict:
    """Return the more serious of two verdicts (the first when equal)."""
    return b if _ORDER.index(b.tier) > _ORDER.index(a.tier) else a


def previous_stored(session: Session, message: Message) -> str | None:
    """Return the body of the number's stored inbound text just before `message`, if recent."""
    return session.scalar(
        select(Message.body).where(
            Message.phone == message.phone, Message.direction == "in",
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
    found = safe_matcher(services).screen(message.body or "", previous=stored)
    return found if verdict is None else higher(verdict, found)
