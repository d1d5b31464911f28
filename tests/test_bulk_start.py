"""Bulk starts (runtime_bulk.start_flows_bulk, the check-in job's path) write what start_flow would.

Each comparison starts the same participants once one by one with start_flow
and once with start_flows_bulk, in the same database at the same instant
(rolling the first back), and compares every run, message and outbox row
(ids replaced by their order). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.clock import FrozenClock
from bot.domain.people import add_coach, add_participant
from bot.models import Message, Nudge, OnceMark, Outbox, Participant, Run
from bot.runtime.apply import start_flow
from bot.runtime.bulk import StartBatch, start_flows_bulk
from bot.services import build_services
from scheduler.checkins import due_checkins, insert_new
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


class Undo(Exception):
    """Raised to roll a session back after taking a snapshot."""


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


def _snapshot(session):
    runs = session.scalars(select(Run).order_by(Run.id)).all()
    messages = session.scalars(select(Message).order_by(Message.id)).all()
    outbox = session.scalars(select(Outbox).order_by(Outbox.id)).all()
    run_no = {run.id: n for n, run in enumerate(runs)}
    message_no = {message.id: n for n, message in enumerate(messages)}

    def values(row, drop=("id",), **renumber):
        out = {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in drop}
        for key, numbers in renumber.items():
            out[key] = numbers.get(out[key], out[key])
        return out

    return ([values(r) for r in runs],
            [values(m, run_id=run_no) for m in messages],
            [values(o, message_id=message_no) for o in outbox])


def _both_ways(services, ids, flow_id, trigger="schedule"):
    """Return (snapshot one by one, snapshot in bulk, participants started in bulk)."""
    snapshots = []
    with pytest.raises(Undo), services.db.session() as session:
        for person in session.scalars(select(Participant).where(Participant.id.in_(ids))
                                      .order_by(Participant.id)):
            start_flow(session, services, person, flow_id, NIGHT, trigger)
        snapshots.append(_snapshot(session))
        raise Undo
    with services.db.session() as session:
        people = session.scalars(select(Participant).where(Participant.id.in_(ids))
                                 .order_by(Participant.id)).all()
        started = start_flows_bulk(session, services, people, flow_id, NIGHT, trigger)
        snapshots.append(_snapshot(session))
    return snapshots[0], snapshots[1], started


@pytest.mark.parametrize("flow_id", ["checkin", "fallback", "two_texts", "notify_first"])
def test_bulk_writes_the_same_rows_as_one_by_one(world, flow_id):
    services, ids = world
    one_by_one, bulk, started = _both_ways(services, ids, flow_id)
    assert bulk == one_by_one
    runs, messages, outbox = bulk
    # never to paused or opted-out participants; a scheduled start skips a run in progress
    skipped = {ids[5], ids[6]} | ({ids[1]} if flow_id == "checkin" else set())
    assert sorted(started) == sorted(set(ids) - skipped)
    new = [r for r in runs if r["started_at"] == NIGHT]
    assert sorted(r["participant_id"] for r in new) == sorted(started)
    assert all(r["trigger"] == "schedule" and r["flow_id"] == flow_id for r in new)
    assert not any(r["status"] == "active" and r["flow_id"] == "welcome" for r in runs)


def test_bulk_keyword_start_replaces_a_run_of_the_same_flow(world):
    services, ids = world
    one_by_one, bulk, started = _both_ways(services, ids, "checkin", trigger="keyword")
    assert bulk == one_by_one
    assert ids[1] in started
    runs = bulk[0]
    assert [r["status"] for r in runs if r["participant_id"] == ids[1]] == ["ended", "active"]


def test_bulk_texts_wait_for_the_end_of_each_zones_quiet_hours(world):
    services, ids = world
    with services.db.session() as session:
        people = session.scalars(select(Participant).where(Participant.id.in_(ids))).all()
        start_flows_bulk(session, services, people, "two_texts", NIGHT)
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
        person = session.get(Participant, ids[0])
        batch = StartBatch(session, services, NIGHT, [person.id])
        run = start_flow(session, services, person, "checkin", NIGHT, batch=batch)
        assert run is not None and run.id is None and run.waiting
        batch.write()
        assert run.id is not None
        stored = session.get(Run, run.id)
        assert (stored.participant_id, stored.wait_token, stored.timeout_at) == (
            person.id, run.wait_token, NIGHT + timedelta(hours=24))


def test_insert_new_skips_existing_keys(world):
    services, _ = world
    with services.db.session() as session:
        session.add(OnceMark(key="k1", created_at=NIGHT))
    with services.db.session() as session:
        rows = [{"key": key, "created_at": NIGHT} for key in ("k1", "k2", "k3")]
        assert insert_new(session, OnceMark, rows, "key") == {"k2", "k3"}
        assert insert_new(session, OnceMark, rows, "key") == set()
        assert session.scalar(select(func.count()).select_from(OnceMark)) == 3


def test_checkins_in_bulk_start_each_occurrence_once(any_db_url):
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


def test_scheduled_drafts_in_bulk_match_draft_nudge_and_skip_existing_keys(any_db_url):
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
            bulk = drafts[0]
            # the same draft through draft_nudge, for comparison
            twin = draft_nudge(session, people[0], body=bulk.body, reason=bulk.reason,
                               source=bulk.source, event_key="twin", due_at=bulk.due_at,
                               now=monday_noon, max_lateness=timedelta(hours=6))
            assert twin is not None
            skip = {"id", "event_key"}
            assert ({c.key: getattr(bulk, c.key) for c in Nudge.__table__.columns
                     if c.key not in skip}
                    == {c.key: getattr(twin, c.key) for c in Nudge.__table__.columns
                        if c.key not in skip})
            assert [n.paused for n in drafts] == [pid == ids[4] for pid in ids]
            assert all(n.due_at == datetime(2026, 12, 8, 16, tzinfo=UTC) for n in drafts[:7])
    finally:
        services.db.dispose()
