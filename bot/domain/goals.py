"""A veteran's weekly goal (the `goal` flow's action plan) and its follow-up (SPEC 12).

Rules:
- A goal is the latest `goal_what` answer; it was set when that answer was saved.
- The follow-up is due from 4 to 13 days after the goal was set (the week after),
  until a `goal_result` (all / some / not_yet) is saved after it: asked once.
- History pairs each goal with the result saved after it, if any, newest first.
- The current goal (the veteran's page) is the latest `goal_what` and `goal_when`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, literal_column, select
from sqlalchemy.orm import Session

from bot.models import CheckinAnswer

FOLLOW_UP_FROM = timedelta(days=4)
FOLLOW_UP_UNTIL = timedelta(days=14)
GOAL = "goal_what"
RESULT = "goal_result"
GOAL_VARIABLES = (GOAL, "goal_when")
RESULT_WORDS = {"all": "All of it", "some": "Some of it", "not_yet": "Not yet"}


@dataclass(frozen=True)
class Goal:
    """One goal and how it went."""

    what: str
    set_at: datetime
    result: str | None = None
    result_at: datetime | None = None

    @property
    def result_words(self) -> str:
        return RESULT_WORDS.get(self.result or "", "Not asked yet")


def goal_history(session: Session, participant_id: int, limit: int = 20) -> list[Goal]:
    """Return the participant's goals with their results, newest first."""
    return _histories(session, [participant_id])[participant_id][:limit]


_ANSWERS = cast(Table, CheckinAnswer.__table__)


def _history_of(one: bool) -> Select[int, str, str, datetime]:
    """Return the goal-history read of one participant (`pid`) or of many (`pids`)."""
    answers = _ANSWERS.c
    who = (answers.participant_id == bindparam("pid") if one
           else answers.participant_id.in_(bindparam("pids", expanding=True)))
    return (select(answers.participant_id, answers.variable, answers.value, answers.answered_at)
            .where(who, answers.variable.in_([literal_column(f"'{GOAL}'"),
                                              literal_column(f"'{RESULT}'")]))
            .order_by(answers.participant_id, answers.answered_at, answers.id))


# Built once, on the table (Core, no ORM entities): building and keying a statement per call,
# and the ORM's execution around it, cost more than the read (a check-in's answers read one
# veteran's goals, runtime/context.costly_facts; the dashboard reads many).
_HISTORY_ONE, _HISTORY_MANY = _history_of(True), _history_of(False)


def _histories(session: Session, participant_ids: list[int]) -> dict[int, list[Goal]]:
    """Return each participant's goals with their results, newest first (one query)."""
    connection = session.connection()  # nothing of these tables waits in the unit of work
    if len(participant_ids) == 1:
        rows = connection.execute(_HISTORY_ONE, {"pid": participant_ids[0]})
    else:
        rows = connection.execute(_HISTORY_MANY, {"pids": list(participant_ids)})
    found: dict[int, list[tuple[str, str, datetime]]] = {pid: [] for pid in participant_ids}
    for participant_id, variable, value, answered_at in rows:
        found[participant_id].append((variable, value, answered_at))
    return {pid: _paired(answers) for pid, answers in found.items()}


def _paired(rows: list[tuple[str, str, datetime]]) -> list[Goal]:
    """Pair each goal with the result saved after it; newest first."""
    goals: list[Goal] = []
    for variable, value, answered_at in rows:
        if variable == GOAL:
            goals.append(Goal(what=value, set_at=answered_at))
        elif goals and goals[-1].result is None:
            last = goals[-1]
            goals[-1] = Goal(last.what, last.set_at, value, answered_at)
    return list(reversed(goals))


def goal_fact(session: Session, participant_id: int, now: datetime) -> dict[str, Any]:
    """Return `participant.goal` for templates: what, and whether the follow-up is due."""
    return goal_facts(session, [participant_id], now)[participant_id]


def goal_facts(session: Session, participant_ids: list[int],
               now: datetime) -> dict[int, dict[str, Any]]:
    """Return `participant.goal` for each of many participants (one query)."""
    facts: dict[int, dict[str, Any]] = {}
    for participant_id, goals in _histories(session, participant_ids).items():
        if not goals:
            facts[participant_id] = {"what": "", "due": False}
            continue
        goal, age = goals[0], now - goals[0].set_at
        facts[participant_id] = {"what": goal.what, "due": goal.result is None
                                 and FOLLOW_UP_FROM <= age < FOLLOW_UP_UNTIL}
    return facts


def current_goal(db: Session, participant_id: int) -> dict[str, str]:
    """Return the veteran's latest goal answers (`goal_what`, `goal_when`), if any."""
    goal: dict[str, str] = {}
    rows = db.scalars(select(CheckinAnswer).where(
        CheckinAnswer.participant_id == participant_id,
        CheckinAnswer.variable.in_(GOAL_VARIABLES))
        .order_by(CheckinAnswer.answered_at.desc(), CheckinAnswer.id.desc()).limit(10))
    for answer in rows:
        goal.setdefault(answer.variable, answer.value)
    return goal
