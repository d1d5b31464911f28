"""Recognise a late answer: a reply to a question whose run has already ended.

Rules: asked only when a text is neither a keyword nor a reply to a waiting
step, just before the fallback flow. A text is a late answer when the
participant's most recent run ended while waiting on a question asked
within the flow's `expire_after` (a run keeps the step it waited at, and its asked_at),
no text came from them between the question and the end (so it timed out or
expired, not answered, not ended by another text), and the text reads as a
valid answer to that question. The reply says the question closed and which
keyword starts the flow again; nothing is saved (the answer belongs to a run
that is over). Flows without keywords cannot be restarted by text, so they
are left to the fallback.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from bot.flows.replies import parse_reply
from bot.models import INBOUND, Message, Participant, UTCDateTime
from bot.runtime.runs import RUNS
from bot.runtime.states import RunStatus
from bot.services import Services

_MESSAGES = cast(Table, Message.__table__).c
# Core, on the tables, built once: building a statement per text, and the ORM's execution
# around it, cost more than the read. Runs and inbound texts are written with Core, never
# through the unit of work, so there is nothing for an autoflush to write first.
_LAST_RUN = (select(RUNS).where(RUNS.c.participant_id == bindparam("pid"))
             .order_by(RUNS.c.id.desc()).limit(1))
_REPLIED = (select(_MESSAGES.id).where(
    _MESSAGES.participant_id == bindparam("pid"), _MESSAGES.direction == INBOUND,
    _MESSAGES.id != bindparam("mid"),
    or_(and_(_MESSAGES.run_id == bindparam("rid"), _MESSAGES.step_id == bindparam("step")),
        and_(_MESSAGES.created_at > bindparam("asked", type_=UTCDateTime()),
             _MESSAGES.created_at <= bindparam("ended", type_=UTCDateTime()))))
    .limit(1))


def late_answer_reply(session: Session, services: Services, participant: Participant, text: str,
                      now: datetime, message_id: int | None = None) -> str | None:
    """Return the 'that question has closed; text KEYWORD' reply, or None if not a late answer."""
    run = session.execute(_LAST_RUN, {"pid": participant.id}).first()
    store = services.flows
    if store is None or run is None or run.status == RunStatus.ACTIVE or run.ended_at is None:
        return None
    flow = store.version(run.flow_id, run.flow_version) or store.get(run.flow_id)
    current = store.get(run.flow_id)
    if flow is None or current is None or not current.keywords:
        return None
    step = flow.steps.get(run.step or "")
    if step is None or step.expect is None or step.save is None or run.asked_at is None:
        return None
    if now - run.asked_at > flow.expire_after:  # too long ago to be an answer to it
        return None
    replied = session.scalar(_REPLIED, {
        "pid": participant.id, "mid": message_id if message_id is not None else 0,
        "rid": run.id, "step": run.step, "asked": run.asked_at, "ended": run.ended_at})
    if replied is not None or not parse_reply(step.expect, text).ok:
        return None
    name = (current.name or current.id.replace("_", " ")).strip()
    return (f"Sorry, that {name.lower()} has closed, so your answer was not saved. "
            f"To start it again, text {current.keywords[0]}.")
