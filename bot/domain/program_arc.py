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

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from bot.core.config import Config
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
    rows = session.execute(
        select(Run.id, exists().where(CheckinAnswer.run_id == Run.id))
        .where(Run.participant_id == participant_id, Run.flow_id == flow_id,
               Run.ended_at.is_not(None))  # finished (runtime/states.py: set as it ends)
        .order_by(Run.id.desc()).limit(limit)).all()
    missed = 0
    for _, answered in rows:
        if answered:
            break
        missed += 1
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
    if (old, status) not in _MOVES:
        return False
    participant.status = status
    session.add(AuditLog(actor=actor, action=f"program.{status}", target_type="participant",
                         target_id=participant.id, detail={"from": old}, created_at=now))
    return True


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
