"""Each month's latest PEG score from SQL (peg.latest_scores) against checkins(), case by case."""

from __future__ import annotations

import re
from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.domain.peg import PEG_VARIABLES, _latest_by_month, answers, checkins, latest_scores
from bot.domain.people import add_coach, add_participant
from bot.models import PEG_ANSWER, CheckinAnswer, Coach, Participant, Run
from tests.conftest import make_config

# Month ends (UTC) of December, January and February in New York.
ENDS = [datetime(2027, 1, 1, 5, tzinfo=UTC), datetime(2027, 2, 1, 5, tzinfo=UTC),
        datetime(2027, 3, 1, 5, tzinfo=UTC)]
PEG = ("pain", "enjoyment", "activity")


@pytest.fixture
def config(any_db_url):
    return make_config(any_db_url)


def _day(month: int, day: int, hour: int = 15, minute: int = 0) -> datetime:
    return datetime(2026 if month == 12 else 2027, month, day, hour, minute, tzinfo=UTC)


def _checkin(s: Any, person: Participant, when: datetime, values: list[tuple[str, str]],
             run: bool = True) -> None:
    """Save answers a minute apart, the last at `when`, in a new run (or none)."""
    run_id = None
    if run:
        row = Run(participant_id=person.id, flow_id="weekly_checkin", flow_version="v1",
                  status="ended", started_at=when, updated_at=when)
        s.add(row)
        s.flush()
        run_id = row.id
    for n, (variable, value) in enumerate(values):
        s.add(CheckinAnswer(participant_id=person.id, run_id=run_id, flow_id="weekly_checkin",
                            variable=variable, value=value,
                            answered_at=when - timedelta(minutes=len(values) - 1 - n)))


def _peg(pain: str, enjoyment: str, activity: str) -> list[tuple[str, str]]:
    return list(zip(PEG, (pain, enjoyment, activity), strict=True))


def _reference(s: Any, people: list[Participant]) -> dict[int, list[float | None]]:
    """Return the scores the straightforward way: every answer grouped by checkins()."""
    found = answers(s, [p.id for p in people])
    out: dict[int, list[float | None]] = {}
    for person in people:
        scored = [c for c in checkins(found[person.id], person.timezone) if c.complete]
        at = [c.at for c in scored]
        out[person.id] = [round(sum(scored[n - 1].values[i] for i in PEG) / 3, 1)
                          if (n := bisect_left(at, end)) else None for end in ENDS]
    return out


def _veteran(s: Any, n: int) -> Participant:
    coach = s.scalars(select(Coach)).first() or add_coach(
        s, name="Alex Rivera", phone="+12025550101", now=_day(12, 1))
    return add_participant(s, phone=f"+12025552{n:03d}", name=f"Vet {n}", coach=coach,
                           timezone="America/New_York", now=_day(12, 1))


CASES: dict[str, tuple[list[tuple[datetime, list[tuple[str, str]], bool]],
                       list[float | None]]] = {
    # The later of two December check-ins; none in January keeps December's; February's.
    "tidy": ([(_day(12, 5), _peg("6", "6", "6"), True), (_day(12, 20), _peg("3", "4", "7.5"), True),
              (_day(2, 3), _peg("10", "0", "2"), True)], [4.8, 4.8, 4.0]),
    # A check-in is the month of its last answer: begun 31 December 23:59 in New York, ended
    # 1 January 00:01, it is January's.
    "across midnight": ([(_day(12, 10), _peg("6", "6", "6"), True),
                         (datetime(2027, 1, 1, 5, 1, tzinfo=UTC), _peg("2", "2", "2"), True)],
                        [6.0, 2.0, 2.0]),
    # Ending at midnight on the dot is the new month's too.
    "at midnight": ([(_day(12, 10), _peg("6", "6", "6"), True),
                     (datetime(2027, 1, 1, 5, tzinfo=UTC), _peg("2", "2", "2"), True)],
                    [6.0, 2.0, 2.0]),
    # "11" and "-1" are no answers: that run lacks its pain, so December keeps the first.
    "out of range": ([(_day(12, 5), _peg("5", "5", "5"), True),
                      (_day(12, 9), _peg("11", "5", "2"), True),
                      (_day(12, 12), [("pain", "-1"), ("enjoyment", "1")], True)],
                     [5.0, 5.0, 5.0]),
    # An incomplete run, then a complete one: the complete one counts.
    "incomplete last": ([(_day(12, 5), _peg("9", "9", "9"), True),
                         (_day(12, 28), [("pain", "1"), ("activity", "1")], True)],
                        [9.0, 9.0, 9.0]),
    # Misfits, one quirk each; checkins() decides, so the figures are still the straight ones.
    "no run, two days": ([(_day(12, 5), [("pain", "4")], False),
                          (_day(12, 9), [("enjoyment", "4"), ("activity", "4")], False),
                          (_day(12, 1), _peg("8", "8", "8"), True)], [8.0, 8.0, 8.0]),
    "no run, one day": ([(_day(12, 5), _peg("4", "5", "6"), False)], [5.0, 5.0, 5.0]),
    "other spelling": ([(_day(12, 5), [("PAIN", "3"), ("enjoyment", "3"), ("activity", "6")],
                         True)], [4.0, 4.0, 4.0]),
    "spelled twice": ([(_day(12, 5), [*_peg("3", "3", "3"), ("peg_pain", "9")], True)],
                      [5.0, 5.0, 5.0]),
    "answered twice": ([(_day(12, 5), [*_peg("3", "3", "3"), ("pain", "6")], True)],
                       [4.0, 4.0, 4.0]),
    "spaces": ([(_day(12, 5), _peg(" 6 ", "6", "6"), True)], [6.0, 6.0, 6.0]),
    "a word": ([(_day(12, 5), _peg("ten", "6", "6"), True),
                (_day(12, 2), _peg("1", "1", "1"), True)], [1.0, 1.0, 1.0]),
    "a quarter": ([(_day(12, 5), _peg("6.25", "6", "6"), True)], [6.1, 6.1, 6.1]),
    # Two check-ins ending the same second: checkins() keeps the one saved later.
    "tie": ([(_day(12, 5), _peg("2", "2", "2"), True),
             (_day(12, 5), [("pain", "7"), ("enjoyment", "7"), ("activity", "7")], True)],
            [7.0, 7.0, 7.0]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_latest_scores_match_checkins(services, name):
    checkins_, expected = CASES[name]
    with services.db.session() as s:
        person = _veteran(s, 1)
        for when, values, run in checkins_:
            _checkin(s, person, when, values, run)
    with services.db.session() as s:
        people = list(s.scalars(select(Participant)))
        found = latest_scores(s, people, ENDS)
        assert found == _reference(s, people)
        assert found[people[0].id] == expected


def test_many_veterans_at_once_keep_their_own_months(services):
    with services.db.session() as s:
        for n, (checkins_, _) in enumerate(CASES.values()):
            person = _veteran(s, n)
            for when, values, run in checkins_:
                _checkin(s, person, when, values, run)
        _veteran(s, 99)  # no answers at all
    with services.db.session() as s:
        people = list(s.scalars(select(Participant).order_by(Participant.id)))
        found = latest_scores(s, people, ENDS)
        assert found == _reference(s, people)
        assert [found[p.id] for p in people] == [*(e for _, e in CASES.values()),
                                                [None, None, None]]


def test_the_peg_runs_index_lists_every_spelling():
    assert tuple(re.findall(r"'([^']*)'", PEG_ANSWER)) == PEG_VARIABLES


def test_sqlite_reads_peg_answers_through_the_peg_runs_index(services):
    if not services.config.database.url.startswith("sqlite"):
        pytest.skip("SQLite's plan; PostgreSQL picks by its statistics")
    with services.db.session() as s:
        statement = _latest_by_month([1, 2], ENDS).compile(
            s.get_bind(), compile_kwargs={"literal_binds": True})
        plan = " ".join(row[-1] for row in s.execute(text(f"EXPLAIN QUERY PLAN {statement}")))
    assert "ix_checkin_answers_peg_runs" in plan
