"""What a flow's templates and `when` expressions see: `participant`, `coach`, `program`.

Rules:
- Plain data only (the engine is pure): names, time zone, strategies, fields, the
  program week and length, status, and the PEG baseline.
- `participant.goal` ({what, due}) and `participant.missed_checkins` cost a query
  each, and `program.texts_per_week` a look at the program files, so they are
  read only when a turn can reach a text or `when` that names them (from the
  step the turn starts at to the next question: `costly_reads(flow, step)`),
  and for a batch of many participants in one query each (`costly_facts`);
  elsewhere they hold neutral values (no goal due, no misses). The webhook's
  usual step pays for none of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot.domain.goals import goal_facts
from bot.domain.program_arc import missed_in_a_row_many, total_weeks, week_of
from bot.flows.engine import Context
from bot.flows.frequency import texts_per_week
from bot.flows.model import Flow, Step
from bot.models import Participant
from bot.services import Services

_COSTLY = {"goal": "participant.goal", "missed_checkins": "participant.missed_checkins",
           "texts_per_week": "program.texts_per_week"}
_reads: dict[tuple[str, str, str | None, str], frozenset[str]] = {}


def costly_reads(flow: Flow, step: str | None = None, event: str = "start") -> frozenset[str]:
    """Return which costly names (_COSTLY) the flow's texts and `when`s mention.

    With `step`, only those one turn from it can reach: a "start" at `step` says
    it (and waits there if it asks something); an "answer" at `step` goes on
    through its `next` and `on_invalid`, a "timeout" through its `timeout`, and
    then on until the next question, which is said and waits.
    """
    key = (flow.id, flow.version, step, event)
    if key not in _reads:
        sources: list[str] = []
        for found in _one_turn(flow, step, event):
            sources += [*found.say, found.notify_coach or "", found.escalate or "",
                        found.nudge.say if found.nudge else "",
                        *(branch.when or "" for branch in found.next)]
        text = "\n".join(sources)
        _reads[key] = frozenset(name for name, spelled in _COSTLY.items() if spelled in text)
    return _reads[key]


def _one_turn(flow: Flow, step: str | None, event: str) -> list[Step]:
    """Return the steps one turn from `step` can reach (every step without one)."""
    if step is None:
        return list(flow.steps.values())
    followed = {"answer": ("next", "on_invalid"), "timeout": ("timeout",)}.get(event)
    seen: set[str] = set()
    todo, found = [step], []
    while todo:
        at = todo.pop()
        if at in seen or at not in flow.steps:
            continue
        seen.add(at)
        found.append(flow.steps[at])
        targets = flow.steps[at].targets()
        if at == step and followed is not None:
            todo += [target for kind, target, _ in targets if kind in followed]
        elif flow.steps[at].expect is None:  # the turn stops at the next question
            todo += [target for _, target, _ in targets]
    return found


def costly_facts(session: Session, services: Services, participant_ids: list[int], flow: Flow,
                 reads: frozenset[str] | None = None) -> dict[int, dict[str, Any]]:
    """Return, per participant, the costly names `flow` reads (one query per name, any count).

    `reads` narrows them (costly_reads of the step a turn starts at).
    """
    reads = costly_reads(flow) if reads is None else reads
    facts: dict[int, dict[str, Any]] = {pid: {} for pid in participant_ids}
    if "goal" in reads:
        for pid, goal in goal_facts(session, participant_ids, services.clock.now()).items():
            facts[pid]["goal"] = goal
    if "missed_checkins" in reads:
        for pid, missed in missed_in_a_row_many(session, participant_ids, flow.id).items():
            facts[pid]["missed_checkins"] = missed
    return facts


def context_for(services: Services, participant: Participant, session: Session | None = None,
                flow: Flow | None = None, facts: dict[str, Any] | None = None) -> Context:
    """Return the template context for `participant` (plain data only).

    With `session` and `flow`, the costly names the flow reads are filled in too
    (or taken from `facts`, costly_facts's answer for this participant).
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
    if facts is None and session is not None and flow is not None and costly_reads(flow):
        facts = costly_facts(session, services, [participant.id], flow)[participant.id]
    person.update(facts or {})
    reads = costly_reads(flow) if flow is not None else frozenset()
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
