"""Start the program's arc events (SPEC 12): `program_week: N` flows and the program's end.

Rules (the arc itself, weeks and statuses, is bot.program_arc's):
- Each event happens once per participant: a once-mark written in the same
  transaction as the flow's start (`arc:week:FLOW:N:PID`, and
  `arc:end:PID:END` with the end's time, so a program staff extend and that
  ends again gets its closing flow again).
- Nothing starts inside the participant's quiet hours, nor while one of their
  runs waits for an answer (a check-in in progress is not cut off); the next
  pass tries again. A week's flow not started by the end of that week is
  skipped.
- At the end an active participant's `program_end` flow starts (the first by
  id, if any flow has that trigger), then they become `completed`; the flow
  may move them to `maintenance`.
- Who is due is one indexed query per (flow, week) and one for the end.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import String, exists, literal, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from bot.core.db import insert_once
from bot.core.durations import in_quiet_hours
from bot.domain.program_arc import WEEK, Status, program_length, set_status
from bot.flows.model import Flow
from bot.models import OnceMark, Participant, Run
from bot.runtime import apply as runtime
from bot.runtime.states import RunStatus
from bot.services import Services
from scheduler.each import each

BATCH = 1000


def _fill_ends(services: Services, now: datetime) -> int:
    """Give rows without a program end one, from the length in force now."""
    length = program_length(services.config)
    with services.db.session() as session:
        people = list(session.scalars(select(Participant).where(
            Participant.program_end_at.is_(None)).limit(BATCH)))
        for participant in people:
            participant.program_end_at = participant.enrolled_at + length
        return len(people)


def _ready(session: Session, services: Services, participant: Participant, now: datetime) -> bool:
    """Tell whether a flow may start for the participant now (not quiet, none waiting)."""
    if in_quiet_hours(services.config.program.quiet_hours, now, participant.timezone):
        return False
    waiting = session.scalar(select(Run.id).where(Run.participant_id == participant.id,
                                                  Run.status == RunStatus.ACTIVE, Run.waiting))
    return waiting is None


def _claim(session: Session, key: str, now: datetime) -> bool:
    """Write the once-mark `key`; return False if it was already there."""
    return insert_once(session, OnceMark(key=key, created_at=now))


def _start_week(services: Services, flow_id: str, week: int, now: datetime, session: Session,
                participant_id: int) -> bool:
    participant = session.get(Participant, participant_id, with_for_update=True)
    if participant is None or participant.status != Status.ACTIVE \
            or not _ready(session, services, participant, now):
        return False
    if not _claim(session, f"arc:week:{flow_id}:{week}:{participant.id}", now):
        return False
    return runtime.start_flow(session, services, participant, flow_id, now,
                              trigger="program_week") is not None


def _week_flows(services: Services, flows: list[Flow], now: datetime) -> int:
    started = 0
    for flow in flows:
        for week in flow.program_weeks:
            prefix = f"arc:week:{flow.id}:{week}:"
            with services.db.session() as session:
                due = list(session.scalars(select(Participant.id).where(
                    Participant.status == Status.ACTIVE,
                    Participant.enrolled_at <= now - (week - 1) * WEEK,
                    Participant.enrolled_at > now - week * WEEK,
                    Participant.program_end_at > now,
                    ~exists().where(OnceMark.key == literal(prefix, String)
                                    + sql_cast(Participant.id, String)))
                    .order_by(Participant.id).limit(BATCH)))
            started += each(services, due, partial(_start_week, services, flow.id, week, now),
                            f"week {week} flow {flow.id} for participant")
    return started


def _end_one(session: Session, services: Services, closing: str | None, participant_id: int,
             now: datetime) -> bool:
    participant = session.get(Participant, participant_id, with_for_update=True)
    if participant is None or participant.status != Status.ACTIVE \
            or participant.program_end_at is None or participant.program_end_at > now \
            or not _ready(session, services, participant, now):
        return False
    end = participant.program_end_at
    if not _claim(session, f"arc:end:{participant.id}:{end:%Y%m%dT%H%M%S}", now):
        return False
    if closing is not None:
        runtime.start_flow(session, services, participant, closing, now, trigger="program_end")
    set_status(session, participant, Status.COMPLETED, now)
    return True


def _end_programs(services: Services, flows: list[Flow], now: datetime) -> int:
    closing = min((flow.id for flow in flows if flow.on_program_end), default=None)
    with services.db.session() as session:
        due = list(session.scalars(select(Participant.id).where(
            Participant.status == Status.ACTIVE, Participant.program_end_at <= now)
            .order_by(Participant.program_end_at).limit(BATCH)))
    return each(services, due, lambda session, pid: _end_one(session, services, closing, pid,
                                                             now),
                "ending the program of participant")


def due_arc_events(services: Services, now: datetime) -> str:
    """Start due program-week flows and end the programs whose time has come."""
    _fill_ends(services, now)
    if services.flows is None:
        return "no flows"
    flows = services.flows.flows()
    started = _week_flows(services, flows, now)
    ended = _end_programs(services, flows, now)
    return f"{started} program-week flows started, {ended} programs ended"
