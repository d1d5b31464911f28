"""The one writer (bot/runtime/writer.py): many jobs in one transaction, each table in bulk.

Starts, timeouts and expiries of many participants go through one Batch; the
rows they make are the rules' rows (quiet hours, skips, #IDs, dedupe), and the
number of statements a batch costs does not grow with its size. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from bot.core.clock import FrozenClock
from bot.core.db import insert_new
from bot.domain.people import add_coach, add_participant
from bot.models import Escalation, Message, Nudge, OnceMark, Outbox, Participant, Run
from bot.runtime.apply import Batch, fire_due, start_flow, start_flows
from bot.services import build_services
from scheduler.checkins import due_checkins
from scheduler.jobs import due_timeouts
from tests.conftest import RecordingSender, make_config

FIXTURE_FLOWS = Path(__file__).parent / "fixtures" / "flows"
NIGHT = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)  # 22:00 New York, 12:00 Tokyo
EXTRA_FLOWS = {
    "two_texts.yaml": """id: two_texts
start: one
steps:
  one:
    say: "One for {{ participant.first_name }}."
    next: two
  two:
    say: "Two from {{ coach.first_name }}."
""",
    "notify_first.yaml": """id: notify_first
start: hello
steps:
  hello:
    say: "Hello {{ participant.first_name }}."
    notify_coach: "{{ participant.first_name }} got hello."
""",
}
ZONES = ("America/New_York", "Asia/Tokyo", "America/Chicago", "Europe/London")


@pytest.fixture
def world(any_db_url, tmp_path):
    """Services over the fixture flows plus two more; a coach and eight participants."""
    flows = tmp_path / "flows"
    shutil.copytree(FIXTURE_FLOWS, flows)
    for name, text in EXTRA_FLOWS.items():
        (flows / name).write_text(text)
    clock = FrozenClock(NIGHT)
    config = make_config(any_db_url, flows__dir=str(flows), program__quiet_hours="21:00-08:00")
    services = build_services(config, clock=clock, sender=RecordingSender())
    earlier = NIGHT - timedelta(hours=1)
    with services.db.session() as session:
        coach = add_coach(session, name="Alex Rivera", phone="+12025550101", now=NIGHT)
        people = [add_participant(session, phone=f"+1202555012{n}", name=f"Vet{n} Test",
                                  coach=coach, timezone=ZONES[n % len(ZONES)],
                                  now=NIGHT - timedelta(days=9)) for n in range(8)]
        people[5].status = "paused"
        people[6].status = "opted_out"
        session.flush()
        # already in `checkin`, and in another flow
        start_flow(session, services, people[1], "checkin", earlier)
        start_flow(session, services, people[2], "welcome", earlier, trigger="keyword")
        ids = [person.id for person in people]
    yield services, ids
    services.db.dispose()


def _people(session, ids):
    return session.scalars(select(Participant).where(Participant.id.in_(ids))
                           .order_by(Participant.id)).all()


class Statements:
    """Count the SQL statements sent on a session's connection."""

    def __init__(self, session):
        self.count = 0
        event.listen(session.connection(), "before_cursor_execute", self._seen)

    def _seen(self, *args):
        self.count += 1


@pytest.mark.parametrize("flow_id", ["checkin", "fallback", "two_texts", "notify_first"])
def test_many_starts_in_one_batch(world, flow_id):
    services, ids = world
    with services.db.session() as session:
        started = start_flows(session, services, _people(session, ids), flow_id, NIGHT)
    # never to paused or opted-out participants; a scheduled start skips a run in progress
    skipped = {ids[5], ids[6]} | ({ids[1]} if flow_id == "checkin" else set())
    assert sorted(started) == sorted(set(ids) - skipped)
    with services.db.session() as session:
        new = session.scalars(select(Run).where(Run.started_at == NIGHT)).all()
        assert sorted(r.participant_id for r in new) == sorted(started)
        assert all(r.trigger == "schedule" and r.flow_id == flow_id for r in new)
        # any start ends the participant's other runs
        assert session.scalar(select(Run).where(Run.flow_id == "welcome")).status == "ended"
        texts = session.execute(select(Message.run_id, Message.kind, Outbox.due_at)
                                .join(Outbox, Outbox.message_id == Message.id)
                                .where(Message.created_at == NIGHT)).all()
        runs = {r.id for r in new}
        assert texts and all(run_id in runs for run_id, _, _ in texts)
        if flow_id == "notify_first":  # the coach's notice: at once, not after quiet hours
            notices = [due for _, kind, due in texts if kind == "notify"]
            assert len(notices) == len(started) and set(notices) == {NIGHT}


def test_a_keyword_start_replaces_a_run_of_the_same_flow(world):
    services, ids = world
    with services.db.session() as session:
        assert ids[1] in start_flows(session, services, _people(session, ids), "checkin", NIGHT,
                                     trigger="keyword")
    with services.db.session() as session:
        statuses = session.scalars(select(Run.status).where(Run.participant_id == ids[1])
                                   .order_by(Run.id)).all()
    assert statuses == ["ended", "active"]


def test_texts_wait_for_the_end_of_each_zones_quiet_hours(world):
    services, ids = world
    with services.db.session() as session:
        start_flows(session, services, _people(session, ids), "two_texts", NIGHT)
        rows = session.execute(select(Message.participant_id, Message.body, Outbox.due_at,
                                      Outbox.respect_quiet_hours, Message.status)
                               .join(Outbox, Outbox.message_id == Message.id)
                               .where(Message.flow_id == "two_texts")
                               .order_by(Message.id)).all()
    zone = {pid: ZONES[n % len(ZONES)] for n, pid in enumerate(ids)}
    due = {  # NIGHT is 22:00 New York, 21:00 Chicago, 03:00 London (quiet), 12:00 Tokyo
        "America/New_York": datetime(2026, 12, 8, 13, 0, tzinfo=UTC),
        "America/Chicago": datetime(2026, 12, 8, 14, 0, tzinfo=UTC),
        "Europe/London": datetime(2026, 12, 8, 8, 0, tzinfo=UTC),
        "Asia/Tokyo": NIGHT,
    }
    assert len(rows) == 2 * 6
    for pid, body, due_at, quiet, status in rows:
        assert due_at == due[zone[pid]] and quiet and status == "queued"
        assert body.startswith(("One for Vet", "Two from Alex"))


def test_a_batch_gives_runs_their_ids_when_written(world):
    services, ids = world
    with services.db.session() as session:
        batch = Batch(session, services, NIGHT)
        run = batch.start(session.get(Participant, ids[0]), "checkin")
        assert run is not None and run.id is None and run.waiting
        batch.write()
        assert run.id is not None
        stored = session.get(Run, run.id)
        assert (stored.participant_id, stored.wait_token, stored.timeout_at) == (
            ids[0], run.wait_token, NIGHT + timedelta(hours=24))


def test_the_statements_of_a_batch_do_not_grow_with_its_size(world):
    services, ids = world
    counts = []
    for flow_id, some in (("two_texts", ids[:2]), ("notify_first", ids)):
        with services.db.session() as session:
            people = _people(session, some)
            statements = Statements(session)
            start_flows(session, services, people, flow_id, NIGHT)
            counts.append(statements.count)
    # active runs read, runs ended, runs inserted, messages, outbox (+ 2 id draws on PostgreSQL)
    assert counts[0] == counts[1] <= 8


def test_timeouts_of_many_runs_escalate_each_once_with_its_own_id(world):
    services, ids = world
    with services.db.session() as session:
        start_flows(session, services, _people(session, [ids[0], ids[3], ids[4]]), "checkin",
                    NIGHT)
    later = NIGHT + timedelta(hours=25)
    assert due_timeouts(services, later) == "4 timeouts fired"  # ids[1]'s earlier run too
    assert due_timeouts(services, later) == "0 timeouts fired"
    with services.db.session() as session:
        escalations = session.scalars(select(Escalation).order_by(Escalation.id)).all()
        assert len(escalations) == 4
        for escalation in escalations:
            alert = session.scalars(select(Message).where(
                Message.kind == "alert", Message.body.contains(f"#{escalation.id}:"))).one()
            assert f"(P{escalation.participant_id})" in alert.body
            assert f"ACK {escalation.id} " in alert.body
            assert escalation.coach_notified_at is not None and escalation.run_id
        assert session.scalar(select(func.count()).select_from(Run)
                              .where(Run.status == "active")) == 1  # ids[2]'s welcome
        assert fire_due(session, services, later) == 0


def test_insert_new_skips_existing_keys(world):
    services, _ = world
    with services.db.session() as session:
        session.add(OnceMark(key="k1", created_at=NIGHT))
    with services.db.session() as session:
        rows = [{"key": key, "created_at": NIGHT} for key in ("k1", "k2", "k3")]
        assert set(insert_new(session, OnceMark, rows, "key")) == {"k2", "k3"}
        assert insert_new(session, OnceMark, rows, "key") == {}
        assert session.scalar(select(func.count()).select_from(OnceMark)) == 3


def test_checkins_start_each_occurrence_once(any_db_url):
    monday = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)  # 10:30 New York
    clock = FrozenClock(monday)
    services = build_services(make_config(any_db_url), clock=clock, sender=RecordingSender())
    try:
        with services.db.session() as session:
            coach = add_coach(session, name="Alex", phone="+12025550101", now=monday)
            ids = [add_participant(session, phone=f"+120255502{n:02d}", name=f"Vet {n}",
                                   coach=coach,
                                   timezone="America/New_York",
                                   now=monday - timedelta(days=1)).id for n in range(30)]
            # a concurrent pass already started the occurrence for one of them
            session.add(OnceMark(key=f"checkin:weekly_checkin:2026-12-07T10:00:{ids[3]}",
                                 created_at=monday))
        assert due_checkins(services, monday) == "29 check-ins started"
        assert due_checkins(services, monday) == "0 check-ins started"
        with services.db.session() as session:
            started = session.scalars(select(Run.participant_id)).all()
            texts = session.scalar(select(func.count()).select_from(Outbox))
        assert sorted(started) == sorted(set(ids) - {ids[3]}) and texts == 29
    finally:
        services.db.dispose()


def test_scheduled_drafts_skip_existing_keys(any_db_url):
    from bot.domain.nudges import draft_nudge
    from scheduler.nudge_schedules import draft_scheduled_nudges

    monday_noon = datetime(2026, 12, 7, 17, tzinfo=UTC)  # Tuesday 11:00 is within a day
    services = build_services(make_config(any_db_url), clock=FrozenClock(monday_noon),
                              sender=RecordingSender())
    key = "schedule:encouragement:2026-12-08T11:00:{}"
    try:
        with services.db.session() as session:
            coach = add_coach(session, name="Alex", phone="+12025550101", now=monday_noon)
            people = [add_participant(session, phone=f"+120255503{n:02d}", name=f"Vet {n}",
                                      coach=coach, timezone="America/New_York",
                                      now=monday_noon - timedelta(days=1)) for n in range(12)]
            people[4].nudges_paused = True
            session.flush()
            ids = [p.id for p in people]
            # a concurrent pass drafted one already
            draft_nudge(session, people[7], body="Already drafted", reason="x",
                        source="schedule:encouragement", event_key=key.format(ids[7]),
                        due_at=monday_noon, now=monday_noon)
        assert draft_scheduled_nudges(services, monday_noon) == "11 nudges drafted"
        assert draft_scheduled_nudges(services, monday_noon) == "0 nudges drafted"
        with services.db.session() as session:
            drafts = session.scalars(select(Nudge).order_by(Nudge.participant_id)).all()
            assert [n.event_key for n in drafts] == [key.format(pid) for pid in ids]
            assert [n.paused for n in drafts] == [pid == ids[4] for pid in ids]
            assert all(n.status == "pending" and n.coach_id == people[0].coach_id
                       and n.max_lateness_seconds == 6 * 3600 for n in drafts if n != drafts[7])
            assert all(n.due_at == datetime(2026, 12, 8, 16, tzinfo=UTC) for n in drafts[:7])
            assert drafts[7].body == "Already drafted"
    finally:
        services.db.dispose()
