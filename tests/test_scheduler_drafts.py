"""Scheduled nudge drafts (flows/nudges.yaml), coach digests and the staff escalation level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.domain.escalations import open_escalation
from bot.domain.people import add_participant
from bot.models import Coach, Escalation, Message, Nudge, Participant
from scheduler.jobs import coach_digests, escalate_to_staff
from scheduler.nudge_schedules import draft_scheduled_nudges
from tests.conftest import COACH_PHONE, START, make_config

MONDAY_NOON_NY = datetime(2026, 12, 7, 17, tzinfo=UTC)


def _nudges(services, participant_id, source):
    with services.db.session() as session:
        return list(session.scalars(select(Nudge).where(
            Nudge.participant_id == participant_id, Nudge.source == source)
            .order_by(Nudge.due_at)))


def _with_strategies(services, people):
    with services.db.session() as session:
        sam = session.get(Participant, people["participant"])
        sam.strategies = ["pacing", "relaxation"]
        kim = add_participant(session, phone="+12025550124", name="Kim Lee",
                              coach=session.get(Coach, people["coach"]),
                              timezone="America/Los_Angeles", now=START)
        return kim.id


def test_drafts_a_day_ahead_once_per_occurrence(services, clock, people):
    clock.set(MONDAY_NOON_NY)
    assert draft_scheduled_nudges(services, clock.now()) == "1 nudges drafted"
    assert draft_scheduled_nudges(services, clock.now()) == "0 nudges drafted"
    (nudge,) = _nudges(services, people["participant"], "schedule:encouragement")
    assert nudge.status == "pending" and "Sam" in nudge.body and "Alex" in nudge.body
    assert nudge.due_at == datetime(2026, 12, 8, 16, tzinfo=UTC)  # Tuesday 11:00 New York
    assert nudge.max_lateness_seconds == 6 * 3600  # max_late: 6h in nudges.yaml
    assert nudge.reason == "Twice-weekly encouragement"


def test_four_weeks_of_drafts_never_repeat_a_text_in_a_row(services, clock, people):
    kim = _with_strategies(services, people)
    for step in range(4 * 7 * 4):  # every 6 hours for four weeks
        clock.set(MONDAY_NOON_NY + timedelta(hours=6 * step))
        draft_scheduled_nudges(services, clock.now())
    for pid in (people["participant"], kim):
        encouragement = [n.body for n in _nudges(services, pid, "schedule:encouragement")]
        assert len(encouragement) == 8
        assert all(a != b for a, b in zip(encouragement, encouragement[1:], strict=False))
    reminders = _nudges(services, people["participant"], "schedule:skill_reminder")
    assert len(reminders) == 4 and all(n.due_at.weekday() == 2 for n in reminders)
    bodies = [n.body for n in reminders]
    assert all(a != b for a, b in zip(bodies, bodies[1:], strict=False))
    assert _nudges(services, kim, "schedule:skill_reminder") == []  # picked no strategies


def test_paused_participants_get_no_drafts(services, clock, people):
    with services.db.session() as session:
        session.get(Participant, people["participant"]).status = "paused"
    clock.set(MONDAY_NOON_NY)
    assert draft_scheduled_nudges(services, clock.now()) == "0 nudges drafted"


def test_daily_digest_at_the_coachs_hour_once(services, clock, people):
    clock.set(MONDAY_NOON_NY)
    draft_scheduled_nudges(services, clock.now())
    digest_at = datetime(2026, 12, 8, 13, tzinfo=UTC)  # 08:00 New York (digest_hour = 8)
    assert coach_digests(services, digest_at - timedelta(minutes=1)) == "0 coach digests queued"
    assert coach_digests(services, digest_at) == "1 coach digests queued"
    assert coach_digests(services, digest_at + timedelta(hours=1)) == "0 coach digests queued"
    with services.db.session() as session:
        (digest,) = session.scalars(select(Message).where(Message.kind == "digest"))
    assert digest.phone == COACH_PHONE and "1 draft waits" in digest.body and "QUEUE" in digest.body
    assert coach_digests(services, digest_at + timedelta(days=1)) == "1 coach digests queued"


def test_no_digest_without_pending_drafts(services, clock, people):
    assert coach_digests(services, datetime(2026, 12, 8, 13, tzinfo=UTC)) \
        == "0 coach digests queued"


def test_staff_second_level_once_and_only_when_unacknowledged(db_url, clock, sender):
    from bot.domain.people import add_coach
    from bot.services import build_services

    services = build_services(make_config(db_url, safety__staff_phones=["+12025550150"],
                                          safety__staff_after="2h"), clock=clock, sender=sender)
    try:
        with services.db.session() as session:
            coach = add_coach(session, name="Alex", phone=COACH_PHONE, now=START)
            vet = add_participant(session, phone="+12025550123", name="Sam", coach=coach,
                                  timezone="America/New_York", now=START)
            first = open_escalation(session, services, vet, kind="flow", reason="No answer",
                                    event_key="a", now=START).id
            acked = open_escalation(session, services, vet, kind="flow", reason="No answer",
                                    event_key="b", now=START)
            acked.acknowledged_at = START + timedelta(hours=1)
        assert escalate_to_staff(services, START + timedelta(hours=1, minutes=59)).startswith("0")
        assert escalate_to_staff(services, START + timedelta(hours=2)) \
            == "1 escalations sent to staff (1 texts)"
        assert escalate_to_staff(services, START + timedelta(hours=3)).startswith("0")
        with services.db.session() as session:
            assert session.get(Escalation, first).staff_notified_at == START + timedelta(hours=2)
            staff = session.scalars(select(Message.body).where(
                Message.phone == "+12025550150")).all()
        assert len(staff) == 1 and f"#{first}" in staff[0]
    finally:
        services.db.dispose()


def test_drafts_past_their_lateness_leave_the_queue_hourly(services, clock, people):
    from bot.domain.nudges import draft_nudge

    with services.db.session() as session:
        sam = session.get(Participant, people["participant"])
        late = draft_nudge(session, sam, body="late", reason="r", source="s", event_key="late",
                           due_at=clock.now() - timedelta(hours=13), now=clock.now()).id
        fresh = draft_nudge(session, sam, body="fresh", reason="r", source="s",
                            event_key="fresh", due_at=clock.now() - timedelta(hours=11),
                            now=clock.now()).id
    assert "1 stale drafts expired" in draft_scheduled_nudges(services, clock.now())
    clock.advance(timedelta(minutes=30))
    assert "expired" not in draft_scheduled_nudges(services, clock.now())  # once an hour
    clock.advance(timedelta(minutes=31))  # the next hour: "fresh" is 12 h 01 min late now
    assert "1 stale drafts expired" in draft_scheduled_nudges(services, clock.now())
    with services.db.session() as session:
        assert session.get(Nudge, late).status == "expired"
        assert session.get(Nudge, fresh).status == "expired"


def test_someone_enrolled_after_the_drafting_still_gets_that_occurrences_draft(
        services, clock, people):
    clock.set(MONDAY_NOON_NY)
    assert draft_scheduled_nudges(services, clock.now()) == "1 nudges drafted"  # Sam, ahead
    with services.db.session() as session:
        lee = add_participant(session, phone="+12025550125", name="Lee Park",
                              coach=session.get(Coach, people["coach"]),
                              timezone="America/New_York",
                              now=datetime(2026, 12, 8, 14, tzinfo=UTC)).id  # Tue 09:00
    clock.set(datetime(2026, 12, 8, 16, 5, tzinfo=UTC))  # Tuesday 11:05 New York, now due
    assert draft_scheduled_nudges(services, clock.now()) == "1 nudges drafted"  # Lee only
    assert draft_scheduled_nudges(services, clock.now()) == "0 nudges drafted"
    (nudge,) = _nudges(services, lee, "schedule:encouragement")
    assert nudge.due_at == datetime(2026, 12, 8, 16, tzinfo=UTC)
    assert len(_nudges(services, people["participant"], "schedule:encouragement")) == 1
