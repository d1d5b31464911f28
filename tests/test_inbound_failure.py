"""An inbound message survives a processing error (it is stored, unprocessed, then retried)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import bot.inbound
from bot.models import Message
from tests.conftest import PARTICIPANT_PHONE, replies


class Boom(RuntimeError):
    """A processing failure injected by the test."""


def test_processing_error_keeps_the_message_and_a_repeat_processes_it(sms, services, people,
                                                                       monkeypatch):
    real = bot.inbound.route_message

    def failing(*args, **kwargs):
        raise Boom("flow crashed")

    monkeypatch.setattr(bot.inbound, "route_message", failing)
    with pytest.raises(Boom):
        sms.send(PARTICIPANT_PHONE, "HELP", sid="SMfail0001")
    with services.db.session() as session:
        stored = session.scalars(select(Message).where(Message.sid == "SMfail0001")).one()
        assert stored.body == "HELP"
        assert stored.processed_at is None
        assert session.scalars(select(Message).where(Message.direction == "out")).all() == []
    monkeypatch.setattr(bot.inbound, "route_message", real)
    again = sms.send(PARTICIPANT_PHONE, "HELP", sid="SMfail0001")
    assert again.status_code == 200
    assert replies(again) and "STOP" in replies(again)[0]
    with services.db.session() as session:
        assert len(session.scalars(select(Message).where(Message.sid == "SMfail0001")).all()) == 1
        assert session.scalars(select(Message).where(Message.sid == "SMfail0001")).one() \
            .processed_at is not None
