"""An inbound message survives a processing error (it is stored, unprocessed, then retried)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import bot.inbound.pipeline
from bot.models import Message
from tests.conftest import PARTICIPANT_PHONE, replies


class Boom(RuntimeError):
    """A processing failure injected by the test."""


def test_processing_error_keeps_the_message_and_a_repeat_processes_it(sms, services, people,
                                                                       monkeypatch):
    real = bot.inbound.pipeline.route_message

    def failing(*args, **kwargs):
        raise Boom("flow crashed")

    monkeypatch.setattr(bot.inbound.pipeline, "route_message", failing)
    with pytest.raises(Boom):
        sms.send(PARTICIPANT_PHONE, "HELP", sid="SMfail0001")
    with services.db.session() as session:
        stored = session.scalars(select(Message).where(Message.sid == "SMfail0001")).one()
        assert stored.body == "HELP"
        assert stored.processed_at is None
        assert session.scalars(select(Message).where(Message.direction == "out")).all() == []
    monkeypatch.setattr(bot.inbound.pipeline, "route_message", real)
    again = sms.send(PARTICIPANT_PHONE, "HELP", sid="SMfail0001")
    assert again.status_code == 200
    assert replies(again) and "STOP" in replies(again)[0]
    with services.db.session() as session:
        assert len(session.scalars(select(Message).where(Message.sid == "SMfail0001")).all()) == 1
        assert session.scalars(select(Message).where(Message.sid == "SMfail0001")).one() \
            .processed_at is not None


def _crash_while_processing(monkeypatch, sms, body, sid):
    """Send `body` while processing is broken: stored, unanswered (like a worker killed mid-way)."""
    real = bot.inbound.pipeline.route_message

    def failing(*args, **kwargs):
        raise Boom("worker died")

    monkeypatch.setattr(bot.inbound.pipeline, "route_message", failing)
    with pytest.raises(Boom):
        sms.send(PARTICIPANT_PHONE, body, sid=sid)
    monkeypatch.setattr(bot.inbound.pipeline, "route_message", real)


def test_a_crisis_text_stored_before_a_crash_is_answered_by_recovery(sms, services, people,
                                                                      monkeypatch, clock):
    from datetime import timedelta

    from bot.inbound.pipeline import recover_unprocessed
    from bot.models import Escalation, Outbox

    _crash_while_processing(monkeypatch, sms, "i want to end it all", "SMcrash001")
    assert recover_unprocessed(services, clock.now() + timedelta(seconds=30)) == 0  # too soon
    later = clock.advance(timedelta(minutes=3))
    assert recover_unprocessed(services, later) == 1
    assert recover_unprocessed(services, later) == 0  # once only
    with services.db.session() as session:
        escalation = session.scalars(select(Escalation)).one()
        assert escalation.urgent
        rows = session.execute(select(Message.body, Outbox.respect_quiet_hours, Outbox.state)
                               .join(Outbox, Outbox.message_id == Message.id)
                               .where(Message.phone == PARTICIPANT_PHONE)).all()
        assert [(("988" in body), quiet, state) for body, quiet, state in rows] == \
            [(True, False, "pending")]
    again = sms.send(PARTICIPANT_PHONE, "i want to end it all", sid="SMcrash001")
    assert replies(again) == []  # Twilio's retry does not get a second crisis reply


def test_recovery_marks_a_message_that_fails_again_and_moves_on(sms, services, people,
                                                                 monkeypatch, clock):
    from datetime import timedelta

    from bot.inbound.pipeline import recover_unprocessed

    _crash_while_processing(monkeypatch, sms, "hello", "SMcrash002")
    monkeypatch.setattr(bot.inbound.pipeline, "route_message",
                        lambda *a, **k: (_ for _ in ()).throw(Boom("still broken")))
    later = clock.advance(timedelta(minutes=3))
    assert recover_unprocessed(services, later) == 0
    with services.db.session() as session:
        stored = session.scalars(select(Message).where(Message.sid == "SMcrash002")).one()
        assert (stored.status, stored.processed_at) == ("error", later)
    assert recover_unprocessed(services, later + timedelta(minutes=5)) == 0


@pytest.mark.parametrize(("body", "expected"), [("I want to end my life", "838255"),
                                                ("HELP", "STOP")])
def test_recovery_answers_an_opted_out_participant_who_texted_crisis_or_help(
        sms, services, people, monkeypatch, clock, sender, body, expected):
    from datetime import timedelta

    from bot.inbound.pipeline import recover_unprocessed
    from scheduler.jobs import send_outbox

    sms.send(PARTICIPANT_PHONE, "STOP")
    _crash_while_processing(monkeypatch, sms, body, "SMcrash003")
    later = clock.advance(timedelta(minutes=3))
    assert recover_unprocessed(services, later) == 1
    send_outbox(services, later)
    # the answer goes to the opted-out number, as it would have in the TwiML
    assert [b for b in sender.bodies_to(PARTICIPANT_PHONE) if expected in b]


def test_recovery_sends_the_confirmation_of_a_stop_it_processes(sms, services, people,
                                                                monkeypatch, clock, sender):
    from datetime import timedelta

    from bot.inbound.pipeline import recover_unprocessed
    from scheduler.jobs import send_outbox

    _crash_while_processing(monkeypatch, sms, "STOP", "SMcrash004")
    later = clock.advance(timedelta(minutes=3))
    assert recover_unprocessed(services, later) == 1
    send_outbox(services, later)
    assert [b for b in sender.bodies_to(PARTICIPANT_PHONE) if "unsubscribed" in b]
