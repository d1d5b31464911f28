"""Queue outbound texts durably: a Message row plus an Outbox row, in the caller's transaction.

Rules:
- Nothing is sent here; the sender (scheduler/sender.py) drains the outbox.
- Whoever writes a row that must leave at once (crisis alerts, coach
  notifications) sets `urgent=True`; after the transaction commits the
  sender is woken instead of waiting for its next pass.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.models import Message, Outbox, Participant
from bot.sms import segments_for

PRIORITY_CRISIS = 0
PRIORITY_ALERT = 1
PRIORITY_NORMAL = 5


def queue_message(
    session: Session,
    *,
    phone: str,
    body: str,
    kind: str,
    now: datetime,
    participant: Participant | None = None,
    coach_id: int | None = None,
    due_at: datetime | None = None,
    not_after: datetime | None = None,
    priority: int = PRIORITY_NORMAL,
    respect_quiet_hours: bool = True,
    to_participant: bool = True,
    urgent: bool = False,
    flow_id: str | None = None,
    step_id: str | None = None,
    run_id: int | None = None,
) -> Message:
    """Store an outbound message and its outbox row; return the message."""
    message = Message(
        direction="out",
        participant_id=participant.id if participant is not None else None,
        coach_id=coach_id,
        phone=phone,
        body=body,
        kind=kind,
        status="queued",
        segments=segments_for(body),
        flow_id=flow_id,
        step_id=step_id,
        run_id=run_id,
        created_at=now,
    )
    session.add(message)
    session.flush()
    session.add(
        Outbox(
            message_id=message.id,
            kind=kind,
            to_phone=phone,
            priority=priority,
            respect_quiet_hours=respect_quiet_hours,
            to_participant=to_participant,
            due_at=due_at or now,
            not_after=not_after,
            created_at=now,
        )
    )
    if urgent:
        session.info["wake_sender"] = True
    return message


def record_reply(
    session: Session, *, participant: Participant | None, phone: str, body: str, kind: str,
    now: datetime, coach_id: int | None = None, flow_id: str | None = None,
    step_id: str | None = None, run_id: int | None = None,
) -> Message:
    """Store a reply that travels in the webhook's TwiML (no outbox row needed)."""
    message = Message(
        direction="out", participant_id=participant.id if participant else None,
        coach_id=coach_id, phone=phone, body=body, kind=kind, status="twiml",
        segments=segments_for(body), flow_id=flow_id, step_id=step_id, run_id=run_id,
        created_at=now, sent_at=now,
    )
    session.add(message)
    return message


def default_not_after(due_at: datetime, max_lateness: timedelta) -> datetime:
    """Return the last moment a message due at `due_at` may still go out."""
    return due_at + max_lateness
