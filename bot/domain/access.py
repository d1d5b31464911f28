"""Who may see and act on what: staff see everything, a coach sees their own veterans.

Rules:
- Staff see and act on every veteran, draft and escalation.
- A coach sees and acts only for the veterans they coach *now*: a draft or an
  escalation follows its veteran, so after a reassignment the old coach can
  neither open it on the dashboard nor act on it by SMS (OK, NO, EDIT, ACK).
- Every check in the dashboard, the coach's SMS commands and the domain rules
  goes through this module; nothing else compares `coach_id`s for permission.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select

from bot.models import Coach, Escalation, Nudge, Participant

Q = TypeVar("Q", bound=Select[Any])


def is_staff(coach: Coach) -> bool:
    """Tell whether `coach` is a member of staff (who sees everything)."""
    return coach.role == "staff"


def coaches(coach: Coach, participant: Participant | None) -> bool:
    """Tell whether `coach` may see and act for `participant` (staff: always)."""
    return is_staff(coach) or (participant is not None and participant.coach_id == coach.id)


def may_act(coach: Coach, item: Nudge | Escalation) -> bool:
    """Tell whether `coach` may act on a draft or escalation: its veteran is theirs now."""
    return coaches(coach, item.participant)


def only_theirs(query: Q, coach: Coach, coach_column: Any) -> Q:
    """Restrict a select to rows whose `coach_column` is `coach` (unchanged for staff)."""
    return query if is_staff(coach) else query.where(coach_column == coach.id)
