"""Read a stored inbound text for processing: one statement for everything routing needs.

Rules (issue 15, the webhook's hot path):
- One joined read locks the message row (FOR UPDATE OF messages; SQLite's
  transaction already holds the write lock) and brings the participant with
  that phone and their coach, whether an active coach has that phone too,
  the participant's active runs (oldest first), and the body of the number's
  previous stored inbound text within PREVIOUS_WINDOW (for the crisis screen,
  bot/inbound/screen.settle).
- The previous text's window is counted from `created`, the time the webhook
  stored the text; a row stored at another time (a repeated MessageSid whose
  first copy was never processed) says so (`previous_known` False) and the
  screen reads it itself.
- Values the statement always has are literals: a bound parameter compared
  with a partial index's WHERE makes SQLite compile the statement at every run.
- `read_sender` is the same read without a stored row (scenarios, late
  processing): the participant and whether an active coach has the phone.
- Nothing here writes; the ORM objects it loads are read, never flushed
  (bot/runtime/writer.py stores what changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session, aliased, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from bot.core.recent_texts import PREVIOUS_WINDOW
from bot.models import INBOUND, Coach, Message, Participant, UTCDateTime
from bot.runtime.runs import RUNS, RunRow, run_from
from bot.runtime.states import RunStatus

_SAME_PHONE = aliased(Coach, name="same_phone_coach")
_PREVIOUS = aliased(Message, name="previous_text")
_PREVIOUS_BODY = (
    select(_PREVIOUS.body)
    .where(_PREVIOUS.phone == Message.phone, _PREVIOUS.direction == INBOUND,
           _PREVIOUS.id != Message.id,
           _PREVIOUS.created_at <= bindparam("created", type_=UTCDateTime()),
           _PREVIOUS.created_at >= bindparam("since", type_=UTCDateTime()))
    .order_by(_PREVIOUS.created_at.desc(), _PREVIOUS.id.desc()).limit(1)
    .correlate(Message).scalar_subquery()
)
_RUN_KEYS = [column.key for column in RUNS.columns]
_INBOUND = (
    select(Message, Participant, Coach, _SAME_PHONE.id, _PREVIOUS_BODY, *RUNS.columns)
    .select_from(Message)
    .outerjoin(Participant, Participant.phone == Message.phone)
    .outerjoin(Coach, Coach.id == Participant.coach_id)  # every reply template reads the coach
    .outerjoin(_SAME_PHONE, and_(_SAME_PHONE.phone == Message.phone, _SAME_PHONE.active))
    .outerjoin(RUNS, and_(RUNS.c.participant_id == Participant.id,
                          RUNS.c.status == RunStatus.ACTIVE))
    .where(Message.id == bindparam("id"))
    .order_by(RUNS.c.id)
    .with_for_update(of=Message)
)  # built once: a statement per request would cost more than the read


@dataclass
class Inbound:
    """A stored inbound text and what routing needs to answer it."""

    message: Message
    participant: Participant | None
    coach_phone_id: int | None  # an active coach with the same phone
    previous: str | None
    previous_known: bool
    runs: list[RunRow]


def read_inbound(session: Session, message_id: int, created: datetime) -> Inbound | None:
    """Lock and read stored message `message_id` with its sender (None if it is not there)."""
    rows = session.execute(_INBOUND, {"id": message_id, "created": created,
                                      "since": created - PREVIOUS_WINDOW}).all()
    if not rows:
        return None
    message, participant, coach, coach_id, previous = rows[0][:5]
    if participant is not None:  # what joinedload would do, without its loader's cost
        set_committed_value(participant, "coach", coach)
    runs = [run_from(dict(zip(_RUN_KEYS, row[5:], strict=True))) for row in rows
            if row[5] is not None]  # columns, not ORM objects: the writer changes them
    return Inbound(message, participant, coach_id, previous, message.created_at == created,
                   runs)


_SENDER = (
    select(Participant, _SAME_PHONE.id)
    .outerjoin(_SAME_PHONE, and_(_SAME_PHONE.phone == Participant.phone, _SAME_PHONE.active))
    .where(Participant.phone == bindparam("phone"))
    .options(joinedload(Participant.coach))
)


def read_sender(session: Session, phone: str) -> tuple[Participant | None, int | None]:
    """Return the participant with `phone` and the id of an active coach with it (one query)."""
    row = session.execute(_SENDER, {"phone": phone}).first()
    return (row[0], row[1]) if row is not None else (None, None)
