"""Crisis alerts through the webhook (SPEC §6.3, §10): one alert per number per 30 minutes,
veterans' alerts first, replies that claim only what happened, crisis words after command
words, and the staff phones the Twilio transport requires."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.config import ConfigError
from bot.domain.export import write_csv
from bot.domain.people import add_coach, add_participant
from bot.inbound.texts import TOLD_COACH, TOLD_STAFF
from bot.models import Escalation, Message, Outbox, Participant
from bot.outbox.queue import PRIORITY_CRISIS, PRIORITY_CRISIS_OTHER
from scheduler.jobs import send_outbox
from tests.conftest import COACH_PHONE, PARTICIPANT_PHONE, Sms, enrolled_app, make_config, replies
from tests.dashboard_support import add_escalation, add_nudge
from tests.test_cli import refusal, run, write_config

STAFF = "+12025550199"
STRANGER = "+12025550177"
FAST = {"twilio__max_messages_per_second": 1000.0, "twilio__max_in_flight": 1}  # in order


@pytest.fixture
def alerting(db_url: str, clock: Any, sender: Any) -> Iterator[tuple[Any, Sms]]:
    """Alex and Sam enrolled, one staff phone."""
    services, app = enrolled_app(make_config(db_url, safety__staff_phones=[STAFF], **FAST),
                                 clock, sender)
    yield services, Sms(app.test_client())
    services.db.dispose()


@pytest.fixture
def no_staff(tmp_path: Any, sqlite_template: str, clock: Any,
             sender: Any) -> Iterator[tuple[Any, Sms]]:
    """Alex and Sam enrolled (another database), no staff phones (fine with the console)."""
    folder = tmp_path / "no_staff"
    folder.mkdir()
    shutil.copyfile(sqlite_template, folder / "peerline.db")
    config = make_config(f"sqlite:///{folder / 'peerline.db'}", **FAST)
    services, app = enrolled_app(config, clock, sender)
    yield services, Sms(app.test_client())
    services.db.dispose()


def _alerts_to(services: Any, phone: str) -> list[Outbox]:
    with services.db.session() as session:
        rows = list(session.scalars(select(Outbox).where(Outbox.kind == "alert",
                                                         Outbox.to_phone == phone)))
        session.expunge_all()
        return rows


def test_a_flood_is_one_alert_and_a_veterans_alert_queued_after_it_goes_first(alerting, sender):
    services, sms = alerting
    for n in range(8):
        answer = replies(sms.send(STRANGER, f"I am going to kill myself {n}"))
        assert len(answer) == 1 and "838255" in answer[0]
        assert answer[0].endswith(TOLD_STAFF) and "coach" not in answer[0]
    assert len(_alerts_to(services, STAFF)) <= 2  # the bound; here exactly one
    with services.db.session() as session:
        flood = session.scalars(select(Escalation)).one()
        assert (flood.phone, flood.texts, flood.participant_id) == (STRANGER, 8, None)
    answer = replies(sms.send(PARTICIPANT_PHONE, "I want to die"))
    assert answer[0].endswith(TOLD_COACH)
    alerts = _alerts_to(services, STAFF)
    assert sorted(a.priority for a in alerts) == [PRIORITY_CRISIS, PRIORITY_CRISIS_OTHER]
    send_outbox(services, services.clock.now())
    order = [body for _, body in sender.sent]
    about_sam = [i for i, body in enumerate(order) if "Sam (P" in body]
    about_stranger = [i for i, body in enumerate(order) if STRANGER in body]
    assert len(about_sam) == 2 and len(about_stranger) == 1  # coach + staff; staff
    assert max(about_sam) < about_stranger[0]
    assert all("kill" not in body and "die" not in body for body in order)


def test_a_new_alert_after_30_minutes_or_after_staff_resolved_it(alerting, clock):
    services, sms = alerting
    sms.send(STRANGER, "I want to end my life")
    clock.advance(timedelta(minutes=29))
    sms.send(STRANGER, "I want to end my life")
    assert len(_alerts_to(services, STAFF)) == 1
    clock.advance(timedelta(minutes=2))  # 31 minutes after the first alert
    sms.send(STRANGER, "I want to end my life")
    assert len(_alerts_to(services, STAFF)) == 2
    with services.db.session() as session:
        assert [e.texts for e in session.scalars(select(Escalation).order_by(Escalation.id))] \
            == [2, 1]
        session.scalars(select(Escalation).order_by(Escalation.id.desc())).first() \
            .resolved_at = clock.now()
    clock.advance(timedelta(minutes=1))
    sms.send(STRANGER, "I want to end my life")  # resolved: a new crisis is a new alert
    assert len(_alerts_to(services, STAFF)) == 3


def test_a_veterans_repeats_are_counted_and_text_nobody_again(alerting, clock):
    services, sms = alerting
    for _ in range(3):
        answer = replies(sms.send(PARTICIPANT_PHONE, "I want to kill myself"))
        assert answer[0].endswith(TOLD_COACH)  # the coach was told, by the first alert
        clock.advance(timedelta(minutes=5))
    assert len(_alerts_to(services, STAFF)) == 1
    assert len(_alerts_to(services, COACH_PHONE)) == 1
    with services.db.session() as session:
        escalation = session.scalars(select(Escalation)).one()
        assert escalation.texts == 3 and escalation.urgent and escalation.kind == "crisis"


def test_a_strangers_crisis_reply_does_not_mention_a_coach(alerting, no_staff):
    for _, sms in (alerting, no_staff):
        answer = replies(sms.send(STRANGER, "I want to die"))[0]
        assert "coach" not in answer.lower() and "838255" in answer
    assert replies(alerting[1].send("+12025550178", "I want to die"))[0].endswith(TOLD_STAFF)
    lonely = replies(no_staff[1].send("+12025550178", "I want to die"))[0]
    assert TOLD_STAFF not in lonely and TOLD_COACH not in lonely  # nobody was texted


def test_a_veteran_whose_coach_cannot_be_texted_is_told_staff_know(alerting):
    services, sms = alerting
    now = services.clock.now()
    with services.db.session() as session:
        coach = add_coach(session, name="Pat Away", phone="+12025550102", now=now)
        add_participant(session, phone="+12025550124", name="Robin Lee", coach=coach,
                        timezone="America/Chicago", now=now)
        coach.active = False  # left the program; Robin not yet given to another coach
    answer = replies(sms.send("+12025550124", "I want to die"))[0]
    assert answer.endswith(TOLD_STAFF) and TOLD_COACH not in answer


def test_without_staff_phones_a_veteran_is_told_only_about_the_coach(no_staff):
    services, sms = no_staff
    answer = replies(sms.send(PARTICIPANT_PHONE, "I want to die"))[0]
    assert answer.endswith(TOLD_COACH) and TOLD_STAFF not in answer


def _coach_world(services: Any) -> dict[str, int]:
    now = services.clock.now()
    with services.db.session() as session:
        sam = session.scalars(select(Participant)).one()
        ids = {"draft": add_nudge(session, sam, "t:1", "Hi Sam, keep going.", now).id,
               "alert": add_escalation(session, sam, "t:e1", now).id}
    return ids


@pytest.mark.parametrize(("command", "tier", "answer"), [
    ("ACK {alert} I want to die tonight", "crisis", "acknowledged"),
    ("OK {draft} i cant go on", "concern", "approved"),
    ("NO {draft} I want to kill myself", "crisis", "rejected"),
    ("EDIT {draft} see you soon. I want to die", "crisis", "edit saved, not sent"),
    ("QUEUE kill myself", "crisis", "draft"),
])
def test_crisis_words_after_a_coach_command_are_screened_and_the_command_runs(
        alerting, command, tier, answer):
    services, sms = alerting
    text = command.format(**_coach_world(services))
    got = replies(sms.send(COACH_PHONE, text))
    assert len(got) == 2 and "838255" in got[0] and answer in got[1], got
    assert ("Reply YES or NO" in got[0]) == (tier == "concern")
    with services.db.session() as session:
        escalation = session.scalars(select(Escalation).where(
            Escalation.phone == COACH_PHONE)).one()
        assert (escalation.kind, escalation.coach_id) == (tier, None)  # staff's, not theirs
    staff = _alerts_to(services, STAFF)
    assert len(staff) == 1 and (staff[0].priority == PRIORITY_CRISIS_OTHER) == (tier == "crisis")


def test_a_coachs_ack_of_a_crisis_asks_for_a_note_staff_resolve_it(alerting):
    services, sms = alerting
    sms.send(PARTICIPANT_PHONE, "I want to die")
    with services.db.session() as session:
        crisis = session.scalars(select(Escalation)).one().id
    got = replies(sms.send(COACH_PHONE, f"ACK {crisis}"))
    assert got == [f"Escalation #{crisis} acknowledged. Thank you. Please add a note on the "
                   "dashboard saying what you did; staff will resolve it."]
    with services.db.session() as session:
        escalation = session.get(Escalation, crisis)
        assert escalation.acknowledged_at is not None and escalation.resolved_at is None


def test_a_coach_command_without_crisis_words_is_only_a_command(alerting):
    services, sms = alerting
    ids = _coach_world(services)
    got = replies(sms.send(COACH_PHONE, f"OK {ids['draft']}"))
    assert len(got) == 1 and "approved" in got[0]
    assert _alerts_to(services, STAFF) == []


@pytest.mark.parametrize("text", ["HELP I want to die", "STOP I want to kill myself",
                                  "START kill myself", "COACH i want to end my life"])
def test_crisis_words_after_a_keyword_get_the_crisis_reply_first(alerting, text):
    services, sms = alerting
    got = replies(sms.send(PARTICIPANT_PHONE, text))
    assert len(got) == 1 and "838255" in got[0] and got[0].endswith(TOLD_COACH)
    with services.db.session() as session:
        assert session.scalars(select(Escalation)).one().kind == "crisis"
        assert session.scalars(select(Participant)).one().status == "active"


def test_help_mentions_the_crisis_line_chat(alerting):
    _, sms = alerting
    assert "VeteransCrisisLine.net" in replies(sms.send(PARTICIPANT_PHONE, "HELP"))[0]


def test_alert_texts_carry_no_words(alerting):
    services, sms = alerting
    sms.send(PARTICIPANT_PHONE, "my secret plan: I want to kill myself")
    sms.send(STRANGER, "my secret plan: I want to kill myself")
    with services.db.session() as session:
        bodies = list(session.scalars(select(Message.body).join(
            Outbox, Outbox.message_id == Message.id).where(Outbox.kind == "alert")))
    assert len(bodies) == 3 and all("secret" not in b and "kill" not in b for b in bodies)


def test_the_twilio_transport_needs_staff_phones():
    with pytest.raises(ConfigError, match=r"\[safety\] staff_phones") as info:
        make_config("sqlite:///unused.db", sms__transport="twilio")
    assert "\n" not in str(info.value) and "PEERLINE_SAFETY_STAFF_PHONES" in str(info.value)
    config = make_config("sqlite:///unused.db", sms__transport="twilio",
                         safety__staff_phones=[STAFF])
    assert config.safety.staff_phones == (STAFF,)


def test_start_up_stops_on_twilio_without_staff_phones(tmp_path):
    config = write_config(tmp_path, f'[database]\nurl = "sqlite:///{tmp_path}/p.db"\n'
                                    '[sms]\ntransport = "twilio"\n')
    line = refusal(run("tick", "--at", "2026-12-07T16:00:00Z", "--config", str(config)))
    assert "[safety] staff_phones" in line and "twilio" in line


def test_research_exports_leave_out_alerts_about_numbers_not_enrolled(alerting):
    services, sms = alerting
    sms.send(STRANGER, "I want to die")
    sms.send(COACH_PHONE, "I want to die")
    sms.send(PARTICIPANT_PHONE, "I want to die")
    out = io.StringIO()
    with services.db.session() as session:
        assert write_csv(session, "escalations", out) == 1
    assert STRANGER not in out.getvalue() and "coach Alex" not in out.getvalue()
