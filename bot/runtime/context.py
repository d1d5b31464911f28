"""What a flow's templates and `when` expressions see: `participant`, `coach`, `program`.

Rules:
- Plain data only (the engine is pure): names, time zone, strategies, fields, the
  program week and length, status, and the PEG baseline.
- `participant.goal` ({what, due}) and `participant.missed_checkins` cost a query
  each, so they are read when a session is given (a reply, a timeout, a single
  start); a bulk scheduled start sees no goal and no misses, which its first step
  does not need.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot.core.durations import parse_duration
from bot.domain.goals import goal_fact
from bot.domain.program_arc import missed_in_a_row, total_weeks, week_of
from bot.flows.engine import Context
from bot.flows.frequency import texts_per_week
from bot.models import Participant


def context_for(services: Any, participant: Participant, session: Session | None = None,
                flow_id: str | None = None) -> Context:
    """Return the template context for `participant` (plain data only).

    With `session` (a reply or a timeout, not a bulk scheduled start) it also holds
    `participant.goal` and `participant.missed_checkins` (of `flow_id`), which cost a query.
    """
    fields = dict(participant.fields or {})
    now = services.clock.now()
    person: dict[str, Any] = {**fields, "id": participant.id, "name": participant.name,
                              "first_name": participant.first_name,
                              "timezone": participant.timezone,
                              "strategies": list(participant.strategies or []), "fields": fields,
                              "status": participant.status,
                              "week": week_of(participant, now),
                              "weeks": total_weeks(participant, services.config),
                              "baseline": dict(participant.peg_baseline or {}),
                              "goal": {"what": "", "due": False}, "missed_checkins": 0}
    if session is not None:
        person["goal"] = goal_fact(session, participant.id, now)
        if flow_id is not None:
            person["missed_checkins"] = missed_in_a_row(session, participant.id, flow_id)
    coach = participant.coach
    program = services.config.program
    return Context(
        participant=person,
        coach={"id": coach.id, "name": coach.name, "first_name": coach.first_name} if coach
        else {"first_name": "your coach", "name": "your coach"},
        program={"name": program.name, "contact": program.contact,
                 "texts_per_week": texts_per_week(services),
                 "care_team_contact": program.care_team_contact,
                 "hard_week_points": program.hard_week_points,
                 "hard_week_percent": program.hard_week_percent},
        nudge_max_late=parse_duration(program.nudge_max_lateness),
    )
