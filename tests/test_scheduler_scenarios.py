"""Issue 4's scenarios end to end: the webhook, coach SMS and `tick` (run_all) on a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.domain.nudges import approve, draft_nudge, get_for, resume_for_participant
from bot.domain.people import add_coach, add_participant
from bot.flows.store import FlowStore
from bot.models import Coach, Escalation, Message, Nudge, Participant, Run
from scheduler.jobs import run_all, send_outbox
from tests.conftest import make_config, replies

COACH = "+12025550101"
OTHER_COACH = "+12025550102"
SAM = "+12025550123"  # Chicago
KENJI = "+12025550124"  # Tokyo
STAFF = "+12025550150"
ENROLLED = datetime(2026, 11, 30, tzinfo=UTC)
ASKED = "how bad was your pain"


# The shipped check-in no longer escalates one silence (SPEC 12); this escalation path is
# exercised with the test check-in, whose silence escalates.
FIXTURE_FLOWS = Path(__file__).parent / "fixtures" / "flows"


@pytest.fixture
def config(db_url):
    return make_config(db_url, safety__staff_phones=[STAFF], safety__staff_after="2h",
                       twilio__max_messages_per_second=1000.0)


@pytest.fixture
def vets(services):
    with services.db.session() as session:
        alex = add_coach(session, name="Alex Rivera", phone=COACH, now=ENROLLED,
                         timezone="America/Chicago")
        add_coach(session, name="Blake Ode", phone=OTHER_COACH, now=ENROLLED)
        sam = add_participant(session, phone=SAM, name="Sam Carter", coach=alex,
                              timezone="America/Chicago", now=ENROLLED)
        kenji = add_participant(session, phone=KENJI, name="Kenji Sato", coach=alex,
                                timezone="Asia/Tokyo", now=ENROLLED)
        return {"sam": sam.id, "kenji": kenji.id}


def tick(services, clock, when):
    clock.set(when)
    return dict(run_all(services, when))


def texts(sender, phone, containing=""):
    return [body for body in sender.bodies_to(phone) if containing in body]


def snapshot(services):
    with services.db.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(model))
                     for model in (Message, Run, Escalation, Nudge))


def test_checkins_in_chicago_and_tokyo_answer_silence_ack_and_staff(
        services, clock, sender, sms, vets):
    services.flows = FlowStore(FIXTURE_FLOWS)
    woken: list[int] = []
    services.db.wakers.append(lambda: woken.append(1))
    monday = datetime(2026, 12, 7, tzinfo=UTC)

    tick(services, clock, monday + timedelta(hours=1))  # 10:00 Tokyo, 19:00 Sunday Chicago
    assert len(texts(sender, KENJI, ASKED)) == 1
    assert texts(sender, SAM) == []
    tick(services, clock, monday + timedelta(hours=16))  # 10:00 Chicago
    assert len(texts(sender, SAM, ASKED)) == 1

    woken.clear()
    assert "That sounds hard" in replies(sms.send(SAM, "about a 9"))[0]
    assert woken, "the coach notification did not wake the sender"
    send_outbox(services, clock.now())  # what the woken sender does at once
    assert len(texts(sender, COACH, "rated pain 9/10")) == 1
    assert "Thank you" in replies(sms.send(SAM, "yes"))[0]

    # Kenji stays silent: 24 h later the coach is texted once, with #ID.
    tick(services, clock, monday + timedelta(days=1, hours=1))
    alerts = texts(sender, COACH, "Escalation #")
    assert len(alerts) == 1 and "Kenji" in alerts[0]
    with services.db.session() as session:
        escalation_id = session.scalar(select(Escalation.id).where(
            Escalation.participant_id == vets["kenji"]))
    assert f"#{escalation_id}" in alerts[0]
    before = snapshot(services)
    for _ in range(2):  # repeated ticks change nothing
        tick(services, clock, monday + timedelta(days=1, hours=1))
    assert snapshot(services) == before and len(texts(sender, COACH, "Escalation #")) == 1

    assert "acknowledged" in replies(sms.send(COACH, f"ACK {escalation_id}"))[0]
    tick(services, clock, monday + timedelta(days=1, hours=4))
    assert texts(sender, STAFF) == []  # acknowledged in time: staff are not texted

    # Next week nobody acknowledges: staff get it after 2 h, once.
    tick(services, clock, monday + timedelta(days=7, hours=1))
    tick(services, clock, monday + timedelta(days=8, hours=1))
    assert len(texts(sender, COACH, "Escalation #")) == 2
    tick(services, clock, monday + timedelta(days=8, hours=2, minutes=59))
    assert texts(sender, STAFF) == []
    tick(services, clock, monday + timedelta(days=8, hours=3))
    tick(services, clock, monday + timedelta(days=8, hours=3, minutes=1))
    staff = texts(sender, STAFF)
    assert len(staff) == 1 and "Unacknowledged #" in staff[0] and "Kenji" in staff[0]
    assert len(texts(sender, SAM, ASKED)) == 2 and len(texts(sender, KENJI)) == 2


def _pending(services, participant_id):
    with services.db.session() as session:
        return session.scalar(select(Nudge).where(Nudge.participant_id == participant_id,
                                                  Nudge.status == "pending",
                                                  Nudge.source.like("goal%")))


def test_a_flow_nudge_waits_for_its_own_coach(services, clock, sender, sms, vets):
    clock.set(datetime(2026, 12, 7, 18, tzinfo=UTC))  # noon in Chicago
    for text in ("GOAL", "walk 10 minutes", "Mon Wed Fri after lunch", "8"):
        sms.send(SAM, text)
    nudge = _pending(services, vets["sam"])
    assert nudge is not None and "walk 10 minutes" in nudge.body
    tick(services, clock, nudge.due_at + timedelta(minutes=1))
    assert texts(sender, SAM, "plan going") == []  # pending drafts are never sent

    assert replies(sms.send(OTHER_COACH, f"OK {nudge.id}")) == [f"#{nudge.id} is not one of yours."]
    sms.send(COACH, f"EDIT {nudge.id} Sam, how's the walking? Alex")
    tick(services, clock, nudge.due_at + timedelta(minutes=2))
    assert texts(sender, SAM, "walking") == []  # an SMS edit waits for the dashboard
    with services.db.session() as session:
        coach = session.get(Coach, session.get(Nudge, nudge.id).coach_id)
        approve(session, get_for(session, nudge.id, coach), coach, clock.now(),
                body="Sam, how's the walking? Alex")
    tick(services, clock, nudge.due_at + timedelta(minutes=3))
    assert texts(sender, SAM, "walking") == ["Sam, how's the walking? Alex"]
    with services.db.session() as session:
        assert session.get(Nudge, nudge.id).status == "sent"


def _draft(services, participant_id, due, key):
    with services.db.session() as session:
        participant = session.get(Participant, participant_id)
        return draft_nudge(session, participant, body=f"Nudge {key}", reason="test",
                           source="test", event_key=key, due_at=due, now=ENROLLED).id


def test_a_late_evening_nudge_waits_for_morning_and_a_stale_one_expires(
        services, clock, sender, sms, vets):
    evening = datetime(2026, 12, 8, 5, tzinfo=UTC)  # Mon 23:00 in Chicago
    nudge_id = _draft(services, vets["sam"], evening, "evening")
    clock.set(datetime(2026, 12, 7, 20, tzinfo=UTC))
    assert "approved" in replies(sms.send(COACH, f"OK {nudge_id}"))[0]
    tick(services, clock, evening)
    tick(services, clock, datetime(2026, 12, 8, 14, 59, tzinfo=UTC))  # 08:59 Chicago
    assert texts(sender, SAM, "Nudge evening") == []
    tick(services, clock, datetime(2026, 12, 8, 15, 0, tzinfo=UTC))  # 09:00 Chicago
    assert texts(sender, SAM, "Nudge evening") == ["Nudge evening"]

    morning = datetime(2026, 12, 9, 16, tzinfo=UTC)  # Wed 10:00 Chicago
    stale = _draft(services, vets["sam"], morning, "stale")
    clock.set(morning + timedelta(hours=13))
    sms.send(COACH, f"OK {stale}")
    tick(services, clock, morning + timedelta(hours=13))
    tick(services, clock, morning + timedelta(days=1))
    assert texts(sender, SAM, "Nudge stale") == []
    with services.db.session() as session:
        assert session.get(Nudge, stale).status == "expired"


def test_a_crisis_alerts_at_once_and_holds_nudges_until_resumed(
        services, clock, sender, sms, vets):
    clock.set(datetime(2026, 12, 8, 4, tzinfo=UTC))  # 22:00 Chicago: quiet hours
    approved = _draft(services, vets["sam"], clock.now() + timedelta(hours=12), "approved")
    sms.send(COACH, f"OK {approved}")
    woken: list[int] = []
    services.db.wakers.append(lambda: woken.append(1))
    assert "988" in replies(sms.send(SAM, "some days I want to die"))[0]
    assert woken
    send_outbox(services, clock.now())
    assert len(texts(sender, COACH, "URGENT")) == 1 and len(texts(sender, STAFF, "URGENT")) == 1
    assert "want to die" not in " ".join(sender.bodies_to(COACH) + sender.bodies_to(STAFF))
    tick(services, clock, clock.now() + timedelta(hours=12))
    assert texts(sender, SAM, "Nudge approved") == []  # held by the crisis
    assert "dashboard" in replies(sms.send(COACH, f"RESUME P{vets['sam']}"))[0]
    tick(services, clock, clock.now() + timedelta(minutes=1))
    assert texts(sender, SAM, "Nudge approved") == []  # a text cannot lift a crisis pause
    with services.db.session() as session:
        coach = session.scalar(select(Coach).where(Coach.phone == COACH))
        resume_for_participant(session, vets["sam"], coach, clock.now(), via="web")
    tick(services, clock, clock.now() + timedelta(minutes=1))
    assert texts(sender, SAM, "Nudge approved") == ["Nudge approved"]
