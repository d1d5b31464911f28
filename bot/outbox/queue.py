"""Queue outbound texts durably: a Message row plus an Outbox row, in the caller's transaction.

Rules:
- Nothing is sent here; the sender (bot/sending/sender.py) drains the outbox.
- Bodies are stored as they go out: `textclean.outgoing` (no control characters, plain
  GSM-7 punctuation) is applied here and by `pipeline.render_twiml`.
- Whoever writes a row that must leave at once (crisis alerts, coach
  notifications) sets `urgent=True`; after the transaction commits the
  sender is woken instead of waiting for its next pass.
- A caller that must know what its transaction queued (a replay cancelling
  repeated staff alerts) puts a list in `session.info[QUEUED]`; both queue
  functions append the new message ids to it.
- Priority orders the sender's work (lowest first): an enrolled veteran's
  crisis alert goes before an unknown number's, so a flood from one number
  cannot hold a veteran's alert back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Required, TypedDict, Unpack, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from bot.core import prepared
from bot.core.db import insert_many
from bot.core.textclean import outgoing
from bot.models import Message, Outbox, Participant
from bot.outbox.delivery import MessageStatus
from bot.sms import segments_for

PRIORITY_CRISIS = 0  # crisis alerts about an enrolled veteran: first of all
PRIORITY_CRISIS_OTHER = 1  # crisis alerts about an unknown number or a coach: after those
PRIORITY_ALERT = 2  # other alerts to coaches and staff
PRIORITY_NORMAL = 5
QUEUED = "peerline_queued"  # session.info key: a list that collects the queued message ids


class QueuedText(TypedDict, total=False):
    """What queue_message takes for one text (phone, body, kind and now are required)."""

    phone: Required[str]
    body: Required[str]
    kind: Required[str]
    now: Required[datetime]
    participant: Participant | None
    coach_id: int | None
    due_at: datetime | None
    not_after: datetime | None
    priority: int
    respect_quiet_hours: bool
    to_participant: bool
    urgent: bool
    flow_id: str | None
    step_id: str | None
    run_id: int | None


def _rows(text: QueuedText) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Return the Message values, the Outbox values (without message_id) and `urgent`."""
    participant = text.get("participant")
    now, body = text["now"], outgoing(text["body"])
    message = {
        "direction": "out",
        "participant_id": participant.id if participant is not None else None,
        "coach_id": text.get("coach_id"),
        "phone": text["phone"],
        "body": body,
        "kind": text["kind"],
        "status": MessageStatus.QUEUED,
        "segments": segments_for(body),
        "flow_id": text.get("flow_id"),
        "step_id": text.get("step_id"),
        "run_id": text.get("run_id"),
        "created_at": now,
    }
    outbox = {
        "kind": text["kind"],
        "to_phone": text["phone"],
        "priority": text.get("priority", PRIORITY_NORMAL),
        "respect_quiet_hours": text.get("respect_quiet_hours", True),
        "to_participant": text.get("to_participant", True),
        "due_at": text.get("due_at") or now,
        "not_after": text.get("not_after"),
        "created_at": now,
    }
    return message, outbox, bool(text.get("urgent", False))


def queue_message(session: Session, **text: Unpack[QueuedText]) -> Message:
    """Store an outbound message and its outbox row; return the message."""
    values, box, urgent = _rows(text)
    message = Message(**values)
    session.add(message)
    session.flush()
    session.add(Outbox(message_id=message.id, **box))
    if QUEUED in session.info:
        session.info[QUEUED].append(message.id)
    if urgent:
        session.info["wake_sender"] = True
    return message


_INSERT_OUTBOX = insert(cast(Table, Outbox.__table__))  # built once: cheaper than per call


def queue_messages_bulk(session: Session, texts: Sequence[QueuedText]) -> list[int]:
    """Queue many texts with two INSERTs; each item holds queue_message's keyword arguments.

    Returns the new message ids in the order of `texts`. The rows are the ones
    queue_message would write (ids in the same order), without ORM objects.
    """
    if not texts:
        return []
    rows = [_rows(text) for text in texts]
    ids = insert_many(session, Message, [values for values, _, _ in rows])
    prepared.run(session.connection(), _INSERT_OUTBOX,
                 [{"message_id": message_id, **box}
                  for message_id, (_, box, _) in zip(ids, rows, strict=True)])
    if QUEUED in session.info:
        session.info[QUEUED].extend(ids)
    if any(urgent for _, _, urgent in rows):
        session.info["wake_sender"] = True
    return ids


def reply_row(
    *, participant: Participant | None, phone: str, body: str, kind: str, now: datetime,
    coach_id: int | None = None, flow_id: str | None = None, step_id: str | None = None,
    run_id: int | None = None,
) -> dict[str, Any]:
    """Return the Message columns of a reply that travels in the webhook's TwiML (no outbox)."""
    body = outgoing(body)  # render_twiml cleans the same way: stored is what was sent
    return {"direction": "out", "sid": None,
            "participant_id": participant.id if participant else None, "coach_id": coach_id,
            "phone": phone, "body": body, "num_media": 0, "kind": kind,
            "status": MessageStatus.TWIML, "segments": segments_for(body), "flow_id": flow_id,
            "step_id": step_id, "run_id": run_id, "created_at": now, "sent_at": now}


def record_reply(
    session: Session, *, participant: Participant | None, phone: str, body: str, kind: str,
    now: datetime, coach_id: int | None = None, flow_id: str | None = None,
    step_id: str | None = None, run_id: int | None = None,
) -> Message:
    """Store one reply that travels in the webhook's TwiML (the writer stores them in bulk)."""
    message = Message(**reply_row(participant=participant, phone=phone, body=body, kind=kind,
                                  now=now, coach_id=coach_id, flow_id=flow_id, step_id=step_id,
                                  run_id=run_id))
    session.add(message)
    return message
