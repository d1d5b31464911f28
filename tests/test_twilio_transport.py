"""The Twilio transport: real sends through Prism (the spec) and the error paths via fake_twilio."""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.core.config import ConfigError
from bot.services import build_sender
from bot.sms import SendError, SendResult
from bot.sms.twilio import BaseUrlHttpClient, TwilioSender
from tests.conftest import make_config
from tests.fake_twilio import (
    DROP,
    INVALID_TO,
    OK,
    OPTED_OUT,
    RATE_LIMITED,
    SERVER_ERROR,
    SERVICE_UNAVAILABLE,
    FakeTwilio,
    Outcome,
)

ACCOUNT = "AC" + "a1" * 16
TO = "+12025550123"
STAFF = "+12025550198"  # the Twilio transport requires staff phones


class Seen:
    """A requests response hook that records the prepared requests the sender made."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def __call__(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        self.requests.append(response.request)
        return response

    def form(self, index: int = -1) -> dict[str, str]:
        body = self.requests[index].body or ""
        text = body.decode() if isinstance(body, bytes) else body
        return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def prism_sender(prism_url: str, seen: Seen, **overrides: Any) -> TwilioSender:
    values = {"sms__transport": "twilio", "twilio__account_sid": ACCOUNT,
              "twilio__from_number": "+12025550100", "twilio__api_base_url": prism_url,
              "safety__staff_phones": [STAFF]}
    values.update(overrides)
    config = make_config("sqlite:///unused.db", **values)
    return TwilioSender.from_config(config, request_hooks={"response": [seen]})


@pytest.mark.prism
def test_send_through_prism_from_a_number(prism_url):
    seen = Seen()
    sender = prism_sender(prism_url, seen)
    result = sender.send(TO, "Hi Sam, how was your pain today? 🙂")
    assert isinstance(result, SendResult)
    assert result.sid and result.sid.startswith("SM")
    assert result.status == "queued"
    assert result.segments == 1  # Prism's example says "1"; parsed from a string
    request = seen.requests[-1]
    assert request.url == f"{prism_url}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert request.headers["Authorization"].startswith("Basic ")
    form = seen.form()
    assert form["To"] == TO
    assert form["From"] == "+12025550100"
    assert form["Body"] == "Hi Sam, how was your pain today? 🙂"
    assert form["StatusCallback"] == "https://peerline.example.org/sms/status"
    assert "MessagingServiceSid" not in form


@pytest.mark.prism
def test_send_through_prism_with_a_messaging_service_and_no_public_url(prism_url):
    seen = Seen()
    sender = prism_sender(prism_url, seen, twilio__from_number="",
                          twilio__messaging_service_sid="MG" + "b2" * 16, twilio__public_url="")
    result = sender.send(TO, "مرحبا")
    assert result.sid and result.sid.startswith("SM")
    form = seen.form()
    assert form["MessagingServiceSid"] == "MG" + "b2" * 16
    assert "From" not in form
    assert "StatusCallback" not in form
    assert form["Body"] == "مرحبا"


@pytest.mark.prism
def test_prism_refusal_is_a_final_send_error(prism_url):
    """Prism validates against Twilio's spec: a StatusCallback that is not a URI is refused."""
    sender = prism_sender(prism_url, Seen())
    with pytest.raises(SendError) as caught:
        sender.send(TO, "hello", status_callback="not a url")
    assert caught.value.http_status == 422
    assert caught.value.retryable is False
    assert caught.value.opted_out is False


def test_base_url_is_only_rewritten_when_set():
    assert BaseUrlHttpClient("").rewrite("https://api.twilio.com/2010-04-01/x") == \
        "https://api.twilio.com/2010-04-01/x"
    client = BaseUrlHttpClient("http://127.0.0.1:4010/")
    assert client.rewrite("https://api.twilio.com/2010-04-01/x") == "http://127.0.0.1:4010/2010-04-01/x"
    assert client.rewrite("https://api.twilio.com.evil.example/x") == \
        "https://api.twilio.com.evil.example/x"
    assert client.rewrite("https://messaging.twilio.com/v1/x") == "https://messaging.twilio.com/v1/x"


def fake_sender(fake: FakeTwilio, **overrides: Any) -> TwilioSender:
    config = make_config("sqlite:///unused.db", **{**fake.config_overrides(), **overrides})
    sender = build_sender(config)  # the same path create_app takes
    assert isinstance(sender, TwilioSender)
    return sender


def test_fake_twilio_receives_what_was_sent_with_basic_auth(fake_twilio):
    result = fake_sender(fake_twilio).send(TO, "x" * 200)
    assert result.segments == 2
    [request] = fake_twilio.requests
    assert request.auth == (fake_twilio.account_sid, fake_twilio.auth_token)
    assert request.form["StatusCallback"] == "https://peerline.example.org/sms/status"
    assert fake_twilio.sent() == [(TO, "x" * 200)]


@pytest.mark.parametrize(
    ("outcome", "status", "code", "retryable"),
    [
        (OPTED_OUT, 400, 21610, False),
        (INVALID_TO, 400, 21211, False),
        (Outcome(401, 20003, "Authenticate"), 401, 20003, False),
        (RATE_LIMITED, 429, 20429, True),
        (SERVER_ERROR, 500, 20500, True),
        (SERVICE_UNAVAILABLE, 503, 20503, True),
    ],
    ids=["21610", "4xx", "401", "429", "500", "503"],
)
def test_twilio_errors_map_to_send_errors(fake_twilio, outcome, status, code, retryable):
    fake_twilio.script(outcome)
    with pytest.raises(SendError) as caught:
        fake_sender(fake_twilio).send(TO, "hello")
    error = caught.value
    assert (error.http_status, error.code, error.retryable) == (status, code, retryable)
    assert error.opted_out is (code == 21610)


def test_twilio_environment_variables_cannot_redirect_sends(fake_twilio, monkeypatch):
    """TWILIO_REGION/TWILIO_EDGE would send to api.dublin.ie1.twilio.com, past api_base_url."""
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "ACwrong")
    assert fake_sender(fake_twilio).send(TO, "hello").sid
    assert fake_twilio.requests[0].auth == (fake_twilio.account_sid, fake_twilio.auth_token)


def test_next_send_succeeds_after_a_scripted_failure(fake_twilio):
    fake_twilio.script(SERVER_ERROR, OK)
    sender = fake_sender(fake_twilio)
    with pytest.raises(SendError):
        sender.send(TO, "hello")
    assert sender.send(TO, "hello").sid
    assert len(fake_twilio.requests) == 2  # the sender itself never retries


def test_dropped_connection_is_retryable(fake_twilio):
    fake_twilio.script(DROP)
    with pytest.raises(SendError) as caught:
        fake_sender(fake_twilio).send(TO, "hello")
    assert caught.value.retryable is True
    assert caught.value.http_status is None


def test_refused_connection_is_retryable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the send: nobody listens
    config = make_config("sqlite:///unused.db", sms__transport="twilio",
                         safety__staff_phones=[STAFF], twilio__account_sid=ACCOUNT,
                         twilio__from_number="+12025550100",
                         twilio__api_base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(SendError) as caught:
        TwilioSender.from_config(config).send(TO, "hello")
    assert caught.value.retryable is True


def test_slow_twilio_times_out_as_retryable(fake_twilio):
    fake_twilio.latency = 1.0
    config = make_config("sqlite:///unused.db", **fake_twilio.config_overrides())
    sender = TwilioSender.from_config(config, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(SendError) as caught:
        sender.send(TO, "hello")
    assert time.monotonic() - started < 0.9
    assert caught.value.retryable is True


def test_error_text_never_carries_the_phone_number(fake_twilio):
    fake_twilio.script(Outcome(400, 21211, f"The 'To' number {TO} is not a valid phone number."))
    with pytest.raises(SendError) as caught:
        fake_sender(fake_twilio).send(TO, "secret body")
    assert TO not in str(caught.value)
    assert "2025550123" not in str(caught.value)
    assert "secret body" not in str(caught.value)


@pytest.mark.parametrize("missing", ["account_sid", "auth_token"])
def test_twilio_transport_without_credentials_is_a_config_error(missing):
    overrides = {"sms__transport": "twilio", "twilio__account_sid": ACCOUNT,
                 "twilio__from_number": "+12025550100", f"twilio__{missing}": "",
                 "safety__staff_phones": [STAFF]}
    with pytest.raises(ConfigError, match=missing):
        build_sender(make_config("sqlite:///unused.db", **overrides))


def test_twilio_transport_without_a_sender_identity_is_a_config_error():
    config = make_config("sqlite:///unused.db", sms__transport="twilio",
                         twilio__account_sid=ACCOUNT, safety__staff_phones=[STAFF])
    with pytest.raises(ConfigError, match="from_number or messaging_service_sid"):
        build_sender(config)


def test_create_app_builds_the_twilio_client_without_any_request(fake_twilio, db_url):
    from bot import create_app, get_services

    app = create_app(test_config={
        "database": {"url": db_url}, "web": {"secret_key": "k"},
        "sms": {"transport": "twilio"}, "safety": {"staff_phones": [STAFF]},
        "twilio": {"account_sid": fake_twilio.account_sid, "auth_token": fake_twilio.auth_token,
                   "from_number": "+12025550100", "api_base_url": fake_twilio.base_url},
    })
    sender = get_services(app).sender
    assert isinstance(sender, TwilioSender)
    assert fake_twilio.requests == []
    assert urlsplit(sender.client.http_client.base_url).port == urlsplit(fake_twilio.base_url).port
    get_services(app).db.dispose()


def test_connection_pool_holds_every_send_in_flight(fake_twilio):
    config = make_config("sqlite://", twilio__max_in_flight=40,
                         **fake_twilio.config_overrides())
    sender = TwilioSender.from_config(config)
    session = sender.client.http_client.session
    assert session is not None
    assert session.get_adapter("https://api.twilio.com")._pool_maxsize == 40
    assert session.get_adapter("http://127.0.0.1")._pool_maxsize == 40
