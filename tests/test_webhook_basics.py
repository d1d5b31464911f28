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


def test_stop_then_start(sms, services, people):
    assert "unsubscribed" in replies(sms.send(PARTICIPANT_PHONE, "Stop."))[0]
    assert replies(sms.send(PARTICIPANT_PHONE, "hello")) == []
    assert "Welcome back" in replies(sms.send(PARTICIPANT_PHONE, " start "))[0]
    with services.db.session() as session:
        assert session.get(Participant, people["participant"]).status == "active"
