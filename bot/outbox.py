"""Queue outbound texts durably: a Message row plus an Outbox row, in the caller's transaction.

Rules:
- Nothing is sent here; the sender (scheduler/sender.py) drains the outbox.
- Whoever writes a row that must leave at once (crisis alerts, coach
  notifications) sets `urgent=True`; after the transaction commits the
  sender is woken instead of waiting for its next pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from bot.models import Message, Outbox, Participant
from bot.sms import segments_for

PRIORITY_CRISIS = 0
PRIORITY_ALERT = 1
PRIORITY_NORMAL = 5


def _rows(
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
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """Return the Message values, the Outbox values (without message_id) and `urgent`."""
    message = {
        "direction": "out",
        "participant_id": participant.id if participant is not None else None,
        "coach_id": coach_id,
        "phone": phone,
        "body": body,
        "kind": kind,
        "status": "queued",
        "segments": segments_for(body),
        "flow_id": flow_id,
        "step_id": step_id,
        "run_id": run_id,
        "created_at": now,
    }
    outbox = {
        "kind": kind,
        "to_phone": phone,
        "priority": priority,
        "respect_quiet_hours": respect_quiet_hours,
        "to_participant": to_participant,
        "due_at": due_at or now,
        "not_after": not_after,
        "created_at": now,
    }
    return message, outbox, urgent


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
    values, box, urgent = _rows(
        phone=phone, body=body, kind=kind, now=now, participant=participant, coach_id=coach_id,
        due_at=due_at, not_after=not_after, priority=priority,
        respect_quiet_hours=respect_quiet_hours, to_participant=to_participant, urgent=urgent,
        flow_id=flow_id, step_id=step_id, run_id=run_id)
    message = Message(**values)
    session.add(message)
    session.flush()
    session.add(Outbox(message_id=message.id, **box))
    if urgent:
        session.info["wake_sender"] = True
    return message


def insert_many(session: Session, model: type[Any], rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """INSERT `rows` into the table of `model` (integer `id`); return their new ids, in order.

    PostgreSQL: the ids are drawn from the table's sequence first (one query)
    and the rows go in one executemany, which psycopg pipelines; a multi-row
    INSERT ... RETURNING costs the driver more than the server (it re-parses
    the long statement). SQLite: INSERT ... RETURNING id.
    """
    if not rows:
        return []
    table = cast(Table, model.__table__)
    if session.get_bind().dialect.name == "postgresql":
        sequence = func.pg_get_serial_sequence(table.name, "id")
        ids = sorted(session.scalars(select(func.nextval(sequence))
                                     .select_from(func.generate_series(1, len(rows)))))
        session.execute(insert(table),
                        [{**row, "id": new} for row, new in zip(rows, ids, strict=True)])
        return ids
    return list(session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars())


def queue_messages_bulk(session: Session, texts: Sequence[Mapping[str, Any]]) -> list[int]:
    """Queue many texts with two INSERTs; each item holds queue_message's keyword arguments.

    Returns the new message ids in the order of `texts`. The rows are the ones
    queue_message would write (ids in the same order), without ORM objects.
    """
    if not texts:
        return []
    rows = [_rows(**text) for text in texts]
    ids = insert_many(session, Message, [values for values, _, _ in rows])
    outbox = cast(Table, Outbox.__table__)
    session.execute(insert(outbox), [{"message_id": message_id, **box}
                                     for message_id, (_, box, _) in zip(ids, rows, strict=True)])
    if any(urgent for _, _, urgent in rows):
        session.info["wake_sender"] = True
    return ids


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
