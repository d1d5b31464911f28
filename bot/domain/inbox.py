"""The coach's inbox (SPEC §11): a veteran's own words that no step or keyword took.

Rules:
- A text that reaches `fallback` is stored as an InboxItem for the veteran's
  coach (unread), and the veteran is told, by the coach's first name, that
  their words went to the coach; only when the coach is active (an automated
  text never claims what did not happen).
- Within 48 hours of the coach's last relayed text (bot/relay.py) such a
  reply is the conversation going on: the veteran hears only that it went to
  the coach, without the automated menu.
- The coach is texted a notice with names and ids, never the words, at most
  once per veteran per hour; it waits for the end of the coach's quiet hours
  (bot/sending/claims.py holds it).
- A veteran's COACH request (the `coach` flow's `escalate`) is an escalation
  of kind `coach_request`: ACK closes it, 24 hours without goes to staff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, func, select, update
from sqlalchemy.orm import Session, joinedload

from bot.models import OUTBOUND, Coach, InboxItem, Message, Participant
from bot.outbox.queue import PRIORITY_ALERT, QueuedText

RELAY_WINDOW = timedelta(hours=48)
NOTICE_EVERY = timedelta(hours=1)
COACH_FLOW = "coach"
COACH_REQUEST = "coach_request"
COACH_REQUEST_STAFF_AFTER = timedelta(hours=24)
PAGE_SIZE = 25


def escalation_kind(flow_id: str) -> str:
    """Return the escalation kind a flow's `escalate` opens (the COACH flow's: a request)."""
    return COACH_REQUEST if flow_id == COACH_FLOW else "flow"


@dataclass(frozen=True)
class Passed:
    """A veteran's text put in the inbox: what to tell them, and whether to add the menu.

    `item` (the InboxItem row) and `notice` (the coach's text, if due) are what
    to store: the caller's Writer stores them (bot/runtime/apply.py).
    """

    reply: str
    in_conversation: bool
    item: dict[str, Any] = field(default_factory=dict)
    notice: QueuedText | None = None


def notice_text(participant: Participant) -> str:
    """Return the SMS notice to the coach: names and ids, never the veteran's words."""
    pid = participant.id
    return (f"PeerLine: {participant.first_name} (P{pid}) sent you a message. "
            f"Reply TEXT P{pid} your words, or open the dashboard")


INBOX_ITEMS = cast(Table, InboxItem.__table__)
_MESSAGES = cast(Table, Message.__table__)
# Built once (the fallback path runs them for every free text): whether the coach was
# told of this veteran's words in the last hour, and whether they relayed words lately.
_LATELY = select(
    exists().where(INBOX_ITEMS.c.participant_id == bindparam("pid"),
                   INBOX_ITEMS.c.notified_at >= bindparam("noticed_since")),
    exists().where(_MESSAGES.c.participant_id == bindparam("pid"),
                   _MESSAGES.c.direction == OUTBOUND,
                   _MESSAGES.c.kind == "compose",
                   _MESSAGES.c.created_at >= bindparam("relayed_since")))


def _lately(session: Session, participant_id: int, now: datetime) -> tuple[bool, bool]:
    """Return (coach noticed within NOTICE_EVERY, coach relayed within RELAY_WINDOW)."""
    row = session.execute(_LATELY, {"pid": participant_id, "noticed_since": now - NOTICE_EVERY,
                                    "relayed_since": now - RELAY_WINDOW}).one()
    return bool(row[0]), bool(row[1])


def pass_to_inbox(session: Session, participant: Participant, message: Any,
                  now: datetime) -> Passed | None:
    """Plan the inbox item, the coach's notice and the reply for the text; write nothing.

    One Core read (the caller writes the item, and the notice when due): every
    free text comes this way; None when there is no active coach.
    """
    coach = session.get(Coach, participant.coach_id)  # loaded with the text: no query
    message_id = getattr(message, "id", None)
    if coach is None or not coach.active or message_id is None:
        return None
    noticed, talking = _lately(session, participant.id, now)
    notify = not noticed and bool(coach.phone)
    notice = QueuedText(
        phone=coach.phone or "", body=notice_text(participant), kind="inbox_notice",
        now=now, coach_id=coach.id, to_participant=False, respect_quiet_hours=True,
        priority=PRIORITY_ALERT, urgent=True) if notify else None
    reply = (f"Sent to {coach.first_name}." if talking else
             f"Thanks, {participant.first_name}. I passed your words to {coach.first_name}, "
             "your coach.")
    return Passed(reply, talking, {"participant_id": participant.id, "coach_id": coach.id,
                                   "message_id": message_id, "created_at": now,
                                   "notified_at": now if notify else None}, notice)


def unread_count(session: Session, coach: Coach) -> int:
    """Return how many inbox items wait unread for `coach` (staff: for everyone)."""
    query = select(func.count(InboxItem.id)).where(InboxItem.read_at.is_(None))
    if coach.role != "staff":
        query = query.where(InboxItem.coach_id == coach.id)
    return int(session.scalar(query) or 0)


def page_for(session: Session, coach: Coach, page: int) -> tuple[list[InboxItem], bool]:
    """Return one page of `coach`'s inbox, newest first, and whether an older page exists."""
    query = (select(InboxItem).options(joinedload(InboxItem.message),
                                       joinedload(InboxItem.participant))
             .order_by(InboxItem.created_at.desc(), InboxItem.id.desc()))
    if coach.role != "staff":
        query = query.where(InboxItem.coach_id == coach.id)
    rows = list(session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def unread_ids(session: Session, participant_id: int) -> set[int]:
    """Return the ids of a veteran's messages still unread in the inbox."""
    return set(session.scalars(select(InboxItem.message_id).where(
        InboxItem.participant_id == participant_id, InboxItem.read_at.is_(None))))


def mark_read(session: Session, coach: Coach, participant_id: int, now: datetime) -> int:
    """Mark a veteran's inbox items read by their coach (opening the thread); return how many.

    Staff looking in do not clear the coach's unread mark.
    """
    if coach.role == "staff":
        return 0
    result = session.execute(update(InboxItem).where(
        InboxItem.participant_id == participant_id, InboxItem.coach_id == coach.id,
        InboxItem.read_at.is_(None)).values(read_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def mark_unread(session: Session, coach: Coach, item_id: int) -> bool:
    """Mark one of `coach`'s inbox items unread again; return whether it was theirs."""
    item = session.get(InboxItem, item_id)
    if item is None or item.coach_id != coach.id:
        return False
    item.read_at = None
    return True
