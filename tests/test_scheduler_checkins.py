"""Scheduled check-ins (SPEC §6.5): local time, DST, enrolment, once, status, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.core.clock import FrozenClock
from bot.core.durations import QuietHours
from bot.domain.people import add_coach, add_participant
from bot.models import Coach, Participant, Run
from bot.services import build_services
from scheduler.checkins import due_checkins, occurrences
from tests.conftest import RecordingSender, make_config

NO_QUIET = "00:00-00:00"
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def _instants(cron, zone, start, end, quiet=NO_QUIET):
    return [o.due for o in occurrences("f", cron, zone, QuietHours.parse(quiet), start, end)]


def test_daily_cron_keeps_local_time_across_spring_forward():
    due = _instants("0 10 * * *", "America/New_York", datetime(2027, 3, 12, 12, tzinfo=UTC),
                    datetime(2027, 3, 16, 12, tzinfo=UTC))
    assert [d.hour for d in due] == [15, 15, 14, 14]  # EST (-5) then EDT (-4)
    assert [d.day for d in due] == [12, 13, 14, 15]


def test_a_missing_local_time_runs_once_an_hour_later():
    due = _instants("30 2 * * *", "America/New_York", datetime(2027, 3, 13, 0, tzinfo=UTC),
                    datetime(2027, 3, 16, 0, tzinfo=UTC))
    assert due == [datetime(2027, 3, 13, 7, 30, tzinfo=UTC),  # 02:30 EST
                   datetime(2027, 3, 14, 7, 30, tzinfo=UTC),  # 03:30 EDT (02:30 does not exist)
                   datetime(2027, 3, 15, 6, 30, tzinfo=UTC)]  # 02:30 EDT


def test_a_repeated_local_time_runs_once_at_fall_back():
    due = _instants("30 1 * * *", "America/New_York", datetime(2027, 11, 6, 0, tzinfo=UTC),
                    datetime(2027, 11, 9, 0, tzinfo=UTC))
    assert due == [datetime(2027, 11, 6, 5, 30, tzinfo=UTC),
                   datetime(2027, 11, 7, 5, 30, tzinfo=UTC),  # the first 01:30 only
                   datetime(2027, 11, 8, 6, 30, tzinfo=UTC)]


def test_an_occurrence_in_quiet_hours_waits_for_their_end():
    due = _instants("0 7 * * MON", "America/Chicago", datetime(2026, 12, 6, tzinfo=UTC),
                    datetime(2026, 12, 9, tzinfo=UTC), quiet="20:00-09:00")
    assert due == [datetime(2026, 12, 7, 15, 0, tzinfo=UTC)]  # 09:00 Chicago


@pytest.fixture
def world(any_db_url):
    """Services on SQLite and PostgreSQL, a coach, and a helper to enrol participants."""
    clock = FrozenClock(LONG_AGO)
    services = build_services(make_config(any_db_url), clock=clock, sender=RecordingSender())
    with services.db.session() as session:
        coach_id = add_coach(session, name="Alex Rivera", phone="+12025550101", now=LONG_AGO).id

    def enrol(phone, zone, when=LONG_AGO, status="active"):
        with services.db.session() as session:
            participant = add_participant(session, phone=phone, name="Vet " + phone[-2:],
                                          coach=session.get(Coach, coach_id), timezone=zone,
                                          now=when)
            participant.status = status
            return participant.id

    yield services, clock, enrol
    services.db.dispose()


def _starts(services):
    with services.db.session() as session:
        rows = session.execute(select(Run.participant_id, Run.started_at)
                               .where(Run.flow_id == "weekly_checkin")).all()
    return sorted((pid, started) for pid, started in rows)


def _tick_hourly(services, clock, start, hours):
    for hour in range(hours):
        clock.set(start + timedelta(hours=hour))
        due_checkins(services, clock.now())


@pytest.mark.parametrize("monday", [datetime(2027, 3, 15, tzinfo=UTC),  # after spring forward
                                    datetime(2027, 11, 8, tzinfo=UTC)])  # after fall back
def test_weekly_checkin_at_ten_local_in_three_zones(world, monday):
    services, clock, enrol = world
    ny = enrol("+12025550111", "America/New_York")
    chicago = enrol("+12025550112", "America/Chicago")
    tokyo = enrol("+12025550113", "Asia/Tokyo")
    _tick_hourly(services, clock, monday - timedelta(days=2), 24 * 4)
    offset = 0 if monday.month == 3 else 1  # EDT in March, EST in November
    assert _starts(services) == sorted([
        (ny, monday + timedelta(hours=14 + offset)),
        (chicago, monday + timedelta(hours=15 + offset)),
        (tokyo, monday + timedelta(hours=1)),  # 10:00 JST, no daylight saving
    ])


def test_never_twice_never_before_enrolment_never_to_inactive(world):
    services, clock, enrol = world
    monday_10 = datetime(2026, 12, 7, 15, tzinfo=UTC)  # 10:00 New York
    on_time = enrol("+12025550121", "America/New_York")
    late = enrol("+12025550122", "America/New_York", when=monday_10 + timedelta(minutes=30))
    for n, status in enumerate(("paused", "opted_out", "completed")):
        enrol(f"+120255501{30 + n}", "America/New_York", status=status)
    clock.set(monday_10 + timedelta(hours=1))
    assert due_checkins(services, clock.now()) == "1 check-ins started"
    assert due_checkins(services, clock.now()) == "0 check-ins started"
    with services.db.session() as session:  # the run ends; the same occurrence must not restart
        for run in session.scalars(select(Run)):
            run.status = "ended"
    clock.advance(timedelta(hours=3))
    assert due_checkins(services, clock.now()) == "0 check-ins started"
    assert [pid for pid, _ in _starts(services)] == [on_time]
    _tick_hourly(services, clock, monday_10 + timedelta(days=7), 2)  # next week: both
    assert sorted(pid for pid, _ in _starts(services)) == sorted([on_time, on_time, late])


def test_a_checkin_in_quiet_hours_starts_when_they_end(any_db_url):
    clock = FrozenClock(LONG_AGO)
    config = make_config(any_db_url, program__quiet_hours="20:00-11:00")
    services = build_services(config, clock=clock, sender=RecordingSender())
    try:
        with services.db.session() as session:
            coach = add_coach(session, name="Alex", phone="+12025550101", now=LONG_AGO)
            pid = add_participant(session, phone="+12025550123", name="Sam", coach=coach,
                                  timezone="America/New_York", now=LONG_AGO).id
        _tick_hourly(services, clock, datetime(2026, 12, 7, 12, tzinfo=UTC), 6)
        assert _starts(services) == [(pid, datetime(2026, 12, 7, 16, tzinfo=UTC))]  # 11:00
        with services.db.session() as session:
            assert session.get(Participant, pid).status == "active"
    finally:
        services.db.dispose()


def test_one_failing_participant_does_not_stop_the_others(world, monkeypatch):
    from bot.runtime import apply as runtime

    services, clock, enrol = world
    good = enrol("+12025550141", "America/New_York")
    bad = enrol("+12025550142", "America/New_York")
    real_start = runtime.Batch.start

    def flaky(batch, participant, *args, **kwargs):
        if participant.id == bad:
            raise RuntimeError("broken participant")
        return real_start(batch, participant, *args, **kwargs)

    monkeypatch.setattr(runtime.Batch, "start", flaky)
    clock.set(datetime(2026, 12, 7, 15, 30, tzinfo=UTC))
    assert due_checkins(services, clock.now()) == "1 check-ins started"
    assert [pid for pid, _ in _starts(services)] == [good]
    monkeypatch.setattr(runtime.Batch, "start", real_start)
    assert due_checkins(services, clock.now()) == "1 check-ins started"  # retried next pass
    assert sorted(pid for pid, _ in _starts(services)) == sorted([good, bad])
