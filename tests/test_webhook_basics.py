"""Inbound webhook: storage, signatures, consent keywords, unknown numbers."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.models import Message, Participant
from tests.conftest import PARTICIPANT_PHONE, replies


def test_unknown_number_is_stored_and_answered_once_a_day(sms, services):
    first = sms.send("+12025550177", "hello?")
    second = sms.send("+12025550177", "anyone?")
    assert first.status_code == 200
    assert first.mimetype == "application/xml"
    assert "program line" in replies(first)[0]
    assert replies(second) == []
    with services.db.session() as session:
        assert session.scalar(select(func.count()).where(Message.direction == "in")) == 2


def test_unknown_number_marks_are_pruned_once_a_day_after_two_days(sms, services, clock):
    from datetime import timedelta

    from bot.models import OnceMark
    from scheduler.jobs import run_job

    sms.send("+12025550177", "hello?")
    with services.db.session() as session:
        session.add(OnceMark(key="checkin:weekly:2026-12-07:1", created_at=clock.now()))
    clock.advance(timedelta(days=1))
    assert "pruned" not in run_job(services, "inbound_recovery", clock.now())
    clock.advance(timedelta(days=2))
    assert "1 old unknown-number marks pruned" in run_job(services, "inbound_recovery",
                                                         clock.now())
    with services.db.session() as session:
        keys = set(session.scalars(select(OnceMark.key)))
    assert not any(key.startswith("unknown:+") for key in keys)
    assert "checkin:weekly:2026-12-07:1" in keys  # other marks are not touched
    sms.send("+12025550178", "hi")
    assert "pruned" not in run_job(services, "inbound_recovery", clock.now())  # once a day


def test_stop_then_start(sms, services, people):
    assert "unsubscribed" in replies(sms.send(PARTICIPANT_PHONE, "Stop."))[0]
    assert replies(sms.send(PARTICIPANT_PHONE, "hello")) == []
    assert "Welcome back" in replies(sms.send(PARTICIPANT_PHONE, " start "))[0]
    with services.db.session() as session:
        assert session.get(Participant, people["participant"]).status == "active"


def test_a_coach_is_recognised_by_phone_and_never_treated_as_a_participant(sms, services, people):
    from tests.conftest import COACH_PHONE

    answer = replies(sms.send(COACH_PHONE, "STOP"))
    assert not any("unsubscribed" in text for text in answer)
    with services.db.session() as session:
        message = session.scalar(select(Message).where(Message.direction == "in"))
        assert message is not None
        assert (message.kind, message.coach_id, message.participant_id) == \
            ("coach", people["coach"], None)
        assert session.get(Participant, people["participant"]).status == "active"


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


def test_an_enrolled_participant_is_answered_and_the_message_linked(sms, services, people):
    response = sms.send(PARTICIPANT_PHONE, "hello")
    assert response.status_code == 200
    assert replies(response)  # the flow engine (or its placeholder) answers
    with services.db.session() as session:
        message = session.scalar(select(Message).where(Message.direction == "in"))
        assert message is not None
        assert (message.kind, message.participant_id) == ("participant", people["participant"])
        assert message.processed_at is not None
