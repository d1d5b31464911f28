"""The template facts' prebuilt reads: one veteran (== bindparam) and many (expanding IN) agree.

bot/domain/goals.py and bot/domain/program_arc.py keep two statements each,
built once: the webhook reads one veteran, the check-in job and the dashboard
many. Both forms must give each veteran the same answer, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from bot.core.db import make_engine
from bot.domain.goals import goal_facts, goal_history
from bot.domain.program_arc import missed_in_a_row_many
from bot.models import CheckinAnswer, Coach, Participant, Run

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _table(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


@pytest.fixture
def session(any_db_url: str) -> Any:
    engine = make_engine(any_db_url)
    with engine.begin() as conn:
        conn.execute(insert(_table(Coach)), {"name": "Sam Coach", "created_at": NOW})
        conn.execute(insert(_table(Participant)), [
            {"name": name, "phone": f"+1202555010{n}", "coach_id": 1,
             "timezone": "America/New_York", "enrolled_at": NOW - 30 * DAY}
            for n, name in enumerate(["Alex Doe", "Kim Roe", "Lee Poe"], start=1)])
        answer = {"flow_id": "goal", "run_id": None, "asked_at": None}
        conn.execute(insert(_table(CheckinAnswer)), [
            {**answer, "participant_id": 1, "variable": "goal_what", "value": "walk",
             "answered_at": NOW - 20 * DAY},
            {**answer, "participant_id": 1, "variable": "goal_result", "value": "all",
             "answered_at": NOW - 13 * DAY},
            {**answer, "participant_id": 1, "variable": "goal_what", "value": "stretch",
             "answered_at": NOW - 6 * DAY},  # its follow-up is due
            {**answer, "participant_id": 2, "variable": "goal_what", "value": "swim",
             "answered_at": NOW - 5 * DAY},
            {**answer, "participant_id": 2, "variable": "goal_result", "value": "some",
             "answered_at": NOW - 1 * DAY}])
        run = {"flow_id": "checkin", "flow_version": "v1", "status": "ended", "waiting": False,
               "variables": {}, "retries": 0, "trigger": "schedule"}
        conn.execute(insert(_table(Run)), [
            {**run, "participant_id": pid, "started_at": NOW - days * DAY,
             "updated_at": NOW - days * DAY, "ended_at": NOW - days * DAY + DAY / 2}
            for pid, days in ((1, 21), (1, 14), (1, 7), (2, 14), (2, 7))])
        conn.execute(insert(_table(CheckinAnswer)), {  # Kim answered the latest check-in
            "participant_id": 2, "run_id": 5, "flow_id": "checkin", "variable": "pain",
            "value": "4", "asked_at": None, "answered_at": NOW - 7 * DAY})
    with Session(engine) as opened:
        yield opened
    engine.dispose()


def test_goal_facts_of_one_and_of_many_agree(session):
    many = goal_facts(session, [1, 2, 3], NOW)
    assert many == {pid: goal_facts(session, [pid], NOW)[pid] for pid in (1, 2, 3)}
    assert many == {1: {"what": "stretch", "due": True}, 2: {"what": "swim", "due": False},
                    3: {"what": "", "due": False}}
    assert [(goal.what, goal.result) for goal in goal_history(session, 1)] == [
        ("stretch", None), ("walk", "all")]


def test_missed_check_ins_of_one_and_of_many_agree(session):
    many = missed_in_a_row_many(session, [1, 2, 3], "checkin")
    assert many == {pid: missed_in_a_row_many(session, [pid], "checkin")[pid]
                    for pid in (1, 2, 3)}
    assert many == {1: 3, 2: 0, 3: 0}
    assert missed_in_a_row_many(session, [1], "checkin", limit=2) == {1: 2}
