"""What a flow's templates and `when` expressions see: `participant`, `coach`, `program`.

Rules:
- Plain data only (the engine is pure): names, time zone, strategies, fields, the
  program week and length, status, and the PEG baseline.
- `participant.goal` ({what, due}) and `participant.missed_checkins` cost a query
  each, and `program.texts_per_week` a look at the program files, so they are
  read only for a flow whose texts or `when`s name them, and only when a session
  is given (a reply, a timeout, a single start); elsewhere they hold neutral
  values (no goal due, no misses). The webhook's usual step pays for none of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot.domain.goals import goal_fact
from bot.domain.program_arc import missed_in_a_row, total_weeks, week_of
from bot.flows.engine import Context
from bot.flows.frequency import texts_per_week
from bot.flows.model import Flow
from bot.models import Participant
from bot.services import Services

_COSTLY = {"goal": "participant.goal", "missed_checkins": "participant.missed_checkins",
           "texts_per_week": "program.texts_per_week"}
_reads: dict[tuple[str, str], frozenset[str]] = {}


def costly_reads(flow: Flow) -> frozenset[str]:
    """Return which costly names (_COSTLY) the flow's texts and `when`s mention."""
    key = (flow.id, flow.version)
    if key not in _reads:
        sources: list[str] = []
        for step in flow.steps.values():
            sources += [*step.say, step.notify_coach or "", step.escalate or "",
                        step.nudge.say if step.nudge else "",
                        *(branch.when or "" for branch in step.next)]
        text = "\n".join(sources)
        _reads[key] = frozenset(name for name, spelled in _COSTLY.items() if spelled in text)
    return _reads[key]


def context_for(services: Services, participant: Participant, session: Session | None = None,
                flow: Flow | None = None) -> Context:
    """Return the template context for `participant` (plain data only).

    With `session` and `flow`, the costly names the flow reads are filled in too.
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
    reads = costly_reads(flow) if flow is not None else frozenset()
    if session is not None and "goal" in reads:
        person["goal"] = goal_fact(session, participant.id, now)
    if session is not None and flow is not None and "missed_checkins" in reads:
        person["missed_checkins"] = missed_in_a_row(session, participant.id, flow.id)
    coach = participant.coach
    program = services.config.program
    return Context(
        participant=person,
        coach={"id": coach.id, "name": coach.name, "first_name": coach.first_name} if coach
        else {"first_name": "your coach", "name": "your coach"},
        program={"name": program.name, "contact": program.contact,
                 "texts_per_week": texts_per_week(services) if "texts_per_week" in reads
                 else 0,
                 "care_team_contact": program.care_team_contact,
                 "hard_week_points": program.hard_week_points,
                 "hard_week_percent": program.hard_week_percent},
        nudge_max_late=program.nudge_max_lateness.delta,
    )
