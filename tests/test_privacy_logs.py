"""Logs never carry message bodies or full phone numbers, even at DEBUG."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from bot.core.logs import redact, setup_logging
from bot.models import Participant
from bot.outbox.queue import queue_message
from bot.sms import SendError
from bot.sms.twilio import TwilioSender
from tests.conftest import COACH_PHONE, PARTICIPANT_PHONE, make_config, sign
from tests.fake_twilio import OPTED_OUT, Outcome

SECRET = "Zebra-Quartz-4417"  # a body marker that must never be logged
UNKNOWN_PHONE = "+12025550177"
PHONES = [PARTICIPANT_PHONE, COACH_PHONE, UNKNOWN_PHONE]


def leaks(output: str) -> list[str]:
    """Return every body marker or full phone number (any common form) found in `output`."""
    found = [SECRET] if SECRET.lower() in output.lower() else []
    digits_only = re.sub(r"[\s().\-]", "", output)
    for phone in PHONES:
        national = phone[2:]  # 2025550123
        if national in digits_only:
            found.append(phone)
    return found


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Let a test call setup_logging() and put the root logger back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("alembic", "sqlalchemy")}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def drive_traffic(client: Any, services: Any, people: dict[str, int], fake: Any) -> None:
    """Webhook, status and transport traffic that carries SECRET and the phone numbers."""

    def inbound(phone: str, body: str, sid: str) -> None:
        params = {"MessageSid": sid, "From": phone, "To": "+12025550100", "Body": body}
        response = client.post("/sms/inbound", data=params,
                               headers={"X-Twilio-Signature": sign("/sms/inbound", params)})
        assert response.status_code == 200

    inbound(PARTICIPANT_PHONE, f"my pain is 7, {SECRET}", "SMpriv1")
    inbound(PARTICIPANT_PHONE, f"my pain is 7, {SECRET}", "SMpriv1")  # duplicate
    inbound(PARTICIPANT_PHONE, "HELP", "SMpriv2")
    inbound(COACH_PHONE, f"QUEUE {SECRET}", "SMpriv3")
    inbound(UNKNOWN_PHONE, f"who is this {SECRET}", "SMpriv4")
    inbound(PARTICIPANT_PHONE, "STOP", "SMpriv5")
    bad = {"MessageSid": "SMpriv6", "From": PARTICIPANT_PHONE, "Body": SECRET}
    assert client.post("/sms/inbound", data=bad,
                       headers={"X-Twilio-Signature": "forged"}).status_code == 403
    with services.db.session() as session:
        participant = session.get(Participant, people["participant"])
        message = queue_message(session, phone=PARTICIPANT_PHONE, body=SECRET, kind="nudge",
                                now=services.clock.now(), participant=participant)
        message.sid = "SMprivout"
    params = {"MessageSid": "SMprivout", "MessageStatus": "failed", "ErrorCode": "21610"}
    client.post("/sms/status", data=params,
                headers={"X-Twilio-Signature": sign("/sms/status", params)})
    sender = TwilioSender.from_config(make_config("sqlite:///unused.db",
                                                  **fake.config_overrides()))
    sender.send(PARTICIPANT_PHONE, SECRET)
    fake.script(OPTED_OUT, Outcome(400, 21211, f"The 'To' number {PARTICIPANT_PHONE} is bad"))
    for _ in range(2):
        with pytest.raises(SendError):
            sender.send(PARTICIPANT_PHONE, SECRET)


def test_log_records_at_debug_carry_no_bodies_or_phone_numbers(
        client, services, people, fake_twilio, caplog):
    caplog.set_level(logging.DEBUG)
    drive_traffic(client, services, people, fake_twilio)
    assert len(caplog.records) > 5, "the traffic should have logged something"
    for record in caplog.records:
        message = record.getMessage()
        assert not leaks(message), (record.name, message)
        if record.exc_info:
            assert not leaks(logging.Formatter().formatException(record.exc_info))


@pytest.mark.parametrize("json_lines", [False, True])
def test_what_reaches_stderr_at_debug_has_no_bodies_or_phone_numbers(
        client, services, people, fake_twilio, capfd, root_logging, json_lines):
    setup_logging("DEBUG", json_lines)
    drive_traffic(client, services, people, fake_twilio)
    logging.getLogger("bot.test").warning("careless line for %s: %s", PARTICIPANT_PHONE, "x")
    try:
        raise ValueError(f"bad number {COACH_PHONE}")
    except ValueError:
        logging.getLogger("bot.test").exception("careless exception")
    out, err = capfd.readouterr()
    assert "careless line" in err and "careless exception" in err
    assert not leaks(out + err), leaks(out + err)


def test_database_errors_do_not_quote_their_parameters(services):
    """An error from the database (logged with its traceback) must not echo bodies or phones."""
    with pytest.raises(Exception) as caught, services.db.session() as session:
        session.execute(text("INSERT INTO no_such_table (body, phone) VALUES (:b, :p)"),
                        {"b": SECRET, "p": PARTICIPANT_PHONE})
    assert not leaks(str(caught.value))


@pytest.mark.parametrize(
    ("raw", "masked"),
    [("+12025550123", "+*********23"), ("call (202) 555-0123 now", "call +********23 now"),
     ("202.555.0123", "+********23"), ("+44 20 7946 0958", "+**********58")],
)
def test_redact_masks_phone_shapes(raw, masked):
    assert redact(raw) == masked


def test_redact_leaves_short_numbers_alone():
    assert redact("pain 7/10, 3 days, id 12345") == "pain 7/10, 3 days, id 12345"


@pytest.mark.parametrize(
    "text",
    ["pass at 2026-12-07 15:00:00 took 3 ms", "next run 2026-12-07T15:00:00+00:00",
     "client 192.168.100.200 connected"],
)
def test_redact_leaves_timestamps_and_addresses_readable(text):
    assert redact(text) == text


def test_redact_still_masks_a_number_beside_a_timestamp():
    line = "2026-12-07 15:00:00 from +12025550123"
    assert redact(line) == "2026-12-07 15:00:00 from +*********23"
