"""The program's arc (SPEC 12): weeks, the end, and the participant status it moves.

Rules:
- A program starts at enrolment and ends at `program_end_at`, which enrolment
  sets to enrolled_at + `[program] length`. Only staff move it (extend, end
  now), so changing `length` never moves the end of a veteran already
  enrolled. A row without one (enrolled before this rule, or written outside
  bot.people) gets it the first time the arc job sees it, from the length
  then in force, and keeps it.
- Week N is [start + 7(N-1) days, start + 7N days); `week_of` is never below 1.
- This module owns `participants.status` values (`Status`; consent.py and the
  staff pages move the consent and pause states, by its members). The arc moves a
  participant only between active, completed and maintenance: active ->
  completed at the end; active or completed -> maintenance when they choose
  monthly check-ins (a flow's `set_status`); maintenance -> completed. It
  never moves anyone out of opted_out, paused or another staff decision:
  consent and staff win.
- Flows start (outside a reply) only for `STARTABLE` statuses; scheduled flows
  only for the statuses their trigger lists (default active), so weekly
  check-ins stop at the end unless the veteran chose maintenance.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, exists, func, select
from sqlalchemy.orm import Session

from bot.core.config import Config
from bot.domain.audit import audit_row
from bot.models import AuditLog, CheckinAnswer, Participant, Run

WEEK = timedelta(days=7)


class Status(StrEnum):
    """The values of `participants.status` (and `status_before_opt_out`)."""

    ACTIVE = "active"
    PAUSED = "paused"  # staff paused the program's texts (bot/dashboard/staff.py)
    OPTED_OUT = "opted_out"  # texted STOP (bot/inbound/consent.py)
    WITHDRAWN = "withdrawn"  # staff recorded a withdrawal (bot/inbound/consent.py)
    COMPLETED = "completed"
    MAINTENANCE = "maintenance"


NOT_TEXTED = frozenset({Status.OPTED_OUT, Status.WITHDRAWN})  # no text may go to them


STARTABLE = frozenset({Status.ACTIVE, Status.MAINTENANCE})
_MOVES = {  # (from, to) the arc may make
    (Status.ACTIVE, Status.COMPLETED), (Status.ACTIVE, Status.MAINTENANCE),
    (Status.COMPLETED, Status.MAINTENANCE), (Status.MAINTENANCE, Status.COMPLETED),
}
MAX_EXTEND_WEEKS = 52


class ArcError(ValueError):
    """A staff action on a program that cannot be done; str() says why, for the page."""


def program_length(config: Config) -> timedelta:
    """Return `[program] length` as a timedelta."""
    return config.program.length.delta


def end_of(participant: Participant, config: Config) -> datetime:
    """Return when the participant's program ends (stored, else from the current length)."""
    return participant.program_end_at or participant.enrolled_at + program_length(config)


def week_of(participant: Participant, now: datetime) -> int:
    """Return the program week `now` falls in (1 from enrolment; never below 1)."""
    return max(1, (now - participant.enrolled_at) // WEEK + 1)


def total_weeks(participant: Participant, config: Config) -> int:
    """Return how many weeks the participant's program lasts, to the nearest week."""
    return max(1, round((end_of(participant, config) - participant.enrolled_at) / WEEK))


def missed_in_a_row(session: Session, participant_id: int, flow_id: str, limit: int = 3) -> int:
    """Return how many of the flow's latest finished runs in a row got no answer at all."""
    return missed_in_a_row_many(session, [participant_id], flow_id, limit)[participant_id]


_RUNS, _ANSWERS = cast(Table, Run.__table__), cast(Table, CheckinAnswer.__table__)


def _missed_of(one: bool) -> Select[Any]:
    """Return the latest finished runs' answered flags of one participant (`pid`) or many."""
    runs = _RUNS.c
    who = (runs.participant_id == bindparam("pid") if one
           else runs.participant_id.in_(bindparam("pids", expanding=True)))
    newest = func.row_number().over(partition_by=runs.participant_id,
                                    order_by=runs.id.desc()).label("newest")
    ranked = (select(runs.participant_id, newest,
                     exists().where(_ANSWERS.c.run_id == runs.id).label("answered"))
              .where(who, runs.flow_id == bindparam("flow_id"),
                     runs.ended_at.is_not(None)).subquery())  # finished (set as it ends)
    return (select(ranked.c.participant_id, ranked.c.answered)
            .where(ranked.c.newest <= bindparam("limit"))
            .order_by(ranked.c.participant_id, ranked.c.newest))


# Built once, on the tables (Core): building and keying the statement per call, and the
# ORM's execution around it, cost more than the read.
_MISSED_ONE, _MISSED_MANY = _missed_of(True), _missed_of(False)


def missed_in_a_row_many(session: Session, participant_ids: list[int], flow_id: str,
                         limit: int = 3) -> dict[int, int]:
    """Return missed_in_a_row for each of many participants (one query)."""
    values: dict[str, Any] = {"flow_id": flow_id, "limit": limit}
    connection = session.connection()  # nothing of these tables waits in the unit of work
    if len(participant_ids) == 1:
        rows = connection.execute(_MISSED_ONE, {**values, "pid": participant_ids[0]})
    else:
        rows = connection.execute(_MISSED_MANY, {**values, "pids": list(participant_ids)})
    missed = dict.fromkeys(participant_ids, 0)
    stopped: set[int] = set()
    for participant_id, answered in rows:
        if answered:
            stopped.add(participant_id)
        elif participant_id not in stopped:
            missed[participant_id] += 1
    return missed


def describe_week(participant: Participant, config: Config, now: datetime) -> str:
    """Return "week 3 of 16", or how the program stands when it is not running."""
    total = total_weeks(participant, config)
    if participant.status == Status.MAINTENANCE:
        return f"finished {total} weeks; monthly check-ins"
    if participant.status == Status.COMPLETED or now >= end_of(participant, config):
        return f"finished {total} weeks"
    return f"week {min(week_of(participant, now), total)} of {total}"


def set_status(session: Session, participant: Participant, status: str, now: datetime,
               actor: str = "system") -> bool:
    """Move the participant along the arc if the move is allowed; return whether it moved."""
    old = participant.status
    if not may_move(old, status):
        return False
    participant.status = status
    session.add(AuditLog(**moved_audit(participant.id, old, status, now, actor)))
    return True


def may_move(old: str, new: str) -> bool:
    """Tell whether the arc may move a participant from status `old` to `new`."""
    return (old, new) in _MOVES


def moved_audit(participant_id: int, old: str, new: str, now: datetime,
                actor: str) -> dict[str, Any]:
    """Return the audit row of an arc move (set_status and the runtime's writer)."""
    detail: dict[str, Any] = {"from": old}
    return audit_row(f"program.{new}", now, via=actor, target_type="participant",
                     target_id=participant_id, **detail)


def extend(session: Session, participant: Participant, weeks: int, config: Config, now: datetime,
           actor: str) -> datetime:
    """Move the program's end `weeks` later (staff); a finished veteran becomes active again."""
    if not 1 <= weeks <= MAX_EXTEND_WEEKS:
        raise ArcError(f"Extend by 1 to {MAX_EXTEND_WEEKS} weeks.")
    if participant.status not in (Status.ACTIVE, Status.COMPLETED, Status.MAINTENANCE):
        raise ArcError(f"{participant.first_name}'s program is {participant.status}; "
                       "resume it first.")
    end = max(end_of(participant, config), now) + weeks * WEEK
    participant.program_end_at = end
    if participant.status != Status.ACTIVE:
        participant.status = Status.ACTIVE  # back in the program until the new end
    session.add(AuditLog(actor=actor, action="program.extend", target_type="participant",
                         target_id=participant.id, detail={"weeks": weeks,
                                                           "ends": end.isoformat()},
                         created_at=now))
    return end


def end_now(session: Session, participant: Participant, now: datetime, actor: str) -> None:
    """End the program now (staff); the arc job then sends the closing flow."""
    if participant.status != Status.ACTIVE:
        raise ArcError(f"{participant.first_name}'s program is not running "
                       f"({participant.status}).")
    participant.program_end_at = now
    session.add(AuditLog(actor=actor, action="program.end", target_type="participant",
                         target_id=participant.id, detail={}, created_at=now))
