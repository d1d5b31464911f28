"""POST /sms/status: statuses only move forwards; 21610 opts the participant out."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.models import ConsentEvent, Message, Outbox, Participant
from bot.outbox.delivery import advances
from bot.outbox.queue import queue_message
from tests.conftest import PARTICIPANT_PHONE, sign


def queued(services: Any, people: dict[str, int], sid: str, body: str = "How was today?",
           handed_over: bool = True) -> int:
    """Queue a text to Sam; as if the sender had handed it to Twilio under `sid` if handed_over."""
    with services.db.session() as session:
        participant = session.get(Participant, people["participant"])
        message = queue_message(session, phone=PARTICIPANT_PHONE, body=body, kind="nudge",
                                now=services.clock.now(), participant=participant)
        message.sid = sid
        session.flush()
        if handed_over:
            outbox = session.scalar(select(Outbox).where(Outbox.message_id == message.id))
            assert outbox is not None
            outbox.state = "sent"
        return message.id


def callback(client: Any, sid: str, status: str, **extra: str) -> Any:
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC1", **extra}
    return client.post("/sms/status", data=params,
                       headers={"X-Twilio-Signature": sign("/sms/status", params)})


def status_of(services: Any, sid: str) -> tuple[str, int | None]:
    with services.db.session() as session:
        message = session.scalar(select(Message).where(Message.sid == sid))
        assert message is not None
        return message.status, message.error_code


@pytest.mark.parametrize(
    ("sequence", "final"),
    [
        (["sent", "delivered"], "delivered"),
        (["delivered", "sent"], "delivered"),
        (["delivered", "sending", "queued", "accepted"], "delivered"),
        (["sent", "queued"], "sent"),
        (["delivered", "read", "delivered"], "read"),
        (["undelivered", "sent"], "undelivered"),
        (["failed", "delivered"], "failed"),
        (["sending", "bogus", "SENT"], "sent"),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else value,
)
def test_statuses_never_move_backwards(client, services, people, sequence, final):
    queued(services, people, "SMorder")
    for status in sequence:
        assert callback(client, "SMorder", status).status_code == 204
    assert status_of(services, "SMorder")[0] == final


def test_advances_table():
    assert advances(None, "queued")
    assert advances("twiml", "delivered")  # replies in TwiML get callbacks too
    assert not advances("delivered", "sent")
    assert not advances("sent", "unknown-status")


def test_unknown_sid_changes_nothing_and_is_not_an_error(client, services, people):
    queued(services, people, "SMknown")
    assert callback(client, "SMnobody", "delivered").status_code == 204
    assert status_of(services, "SMknown")[0] == "queued"


@pytest.mark.parametrize(
    "params",
    [{"MessageStatus": "delivered"}, {"MessageSid": "SMx"}, {"MessageSid": "SM\x00",
                                                               "MessageStatus": "sent"},
     {"MessageSid": "SMx", "MessageStatus": "failed", "ErrorCode": "²³"},
     {"MessageSid": "SMx", "MessageStatus": "failed", "ErrorCode": "9" * 40}],
    ids=["no_sid", "no_status", "nul_sid", "odd_digits", "huge_code"],
)
def test_odd_callbacks_never_give_a_5xx(client, services, people, params):
    queued(services, people, "SMx")
    response = client.post("/sms/status", data=params,
                           headers={"X-Twilio-Signature": sign("/sms/status", params)})
    assert response.status_code in (204, 400)


def test_failed_with_error_code_is_recorded(client, services, people):
    queued(services, people, "SMerr")
    callback(client, "SMerr", "undelivered", ErrorCode="30003")
    assert status_of(services, "SMerr") == ("undelivered", 30003)
    with services.db.session() as session:
        assert session.get(Participant, people["participant"]).status == "active"


@pytest.mark.parametrize("status", ["failed", "undelivered"])
def test_21610_on_a_callback_opts_the_participant_out(client, services, people, status):
    queued(services, people, "SMstop")
    later = queued(services, people, "SMlater", body="A second text still waiting",
                   handed_over=False)
    response = callback(client, "SMstop", status, ErrorCode="21610")
    assert response.status_code == 204
    assert status_of(services, "SMstop") == (status, 21610)
    with services.db.session() as session:
        assert session.get(Participant, people["participant"]).status == "opted_out"
        [event] = session.scalars(select(ConsentEvent).where(ConsentEvent.kind == "opt_out"))
        assert event.method == "twilio:21610"
        outbox = session.scalar(select(Outbox).where(Outbox.message_id == later))
        assert outbox is not None and outbox.state == "cancelled"


def test_21610_after_the_status_was_already_final_still_opts_out(client, services, people):
    """Callbacks can repeat: the one carrying 21610 may come after a bare 'failed'."""
    queued(services, people, "SMlate")
    callback(client, "SMlate", "failed")
    callback(client, "SMlate", "failed", ErrorCode="21610")
    with services.db.session() as session:
        assert session.get(Participant, people["participant"]).status == "opted_out"
    callback(client, "SMlate", "failed", ErrorCode="21610")  # a repeat records nothing more
    with services.db.session() as session:
        events = session.scalars(select(ConsentEvent).where(ConsentEvent.kind == "opt_out"))
        assert len(events.all()) == 1


def test_21610_on_a_delivered_status_is_ignored(client, services, people):
    queued(services, people, "SModd")
    callback(client, "SModd", "delivered", ErrorCode="21610")
    with services.db.session() as session:
        assert session.get(Participant, people["participant"]).status == "active"


def _early(client: Any, message_id: str, sid: str, status: str) -> Any:
    path = f"/sms/status?m={message_id}"
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC1"}
    return client.post(path, data=params, headers={"X-Twilio-Signature": sign(path, params)})


def test_a_status_before_the_sid_is_stored_finds_the_message_by_our_id(client, services,
                                                                       people):
    with services.db.session() as session:
        participant = session.get(Participant, people["participant"])
        message_id = queue_message(session, phone=PARTICIPANT_PHONE, body="hi", kind="nudge",
                                   now=services.clock.now(), participant=participant).id
    assert _early(client, str(message_id), "SMearly0001", "sent").status_code in (200, 204)
    assert status_of(services, "SMearly0001") == ("sent", None)


def test_our_id_in_the_url_never_moves_a_message_that_has_another_sid(client, services,
                                                                      people):
    message_id = queued(services, people, "SMtheirs001")
    _early(client, str(message_id), "SMother0001", "failed")
    _early(client, "not-a-number", "SMother0002", "failed")
    assert status_of(services, "SMtheirs001")[0] == "queued"
    with services.db.session() as session:
        assert session.scalar(select(Message).where(Message.sid == "SMother0001")) is None
