"""X-Twilio-Signature on both webhooks: only Twilio's signed requests are stored or applied."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from bot import create_app
from bot.models import Message
from bot.services import build_services
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, make_config, sign

PHONE = "+12025550177"


def form(**extra: str) -> dict[str, str]:
    return {"MessageSid": f"SM{uuid.uuid4().hex}", "From": PHONE, "To": "+12025550100",
            "Body": "hello", "NumMedia": "0", **extra}


def stored(services: Any) -> int:
    with services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Message)) or 0)


def post(client: Any, params: Any, signature: str | None, path: str = "/sms/inbound",
         extra_headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    return client.post(path, data=params, headers={**headers, **(extra_headers or {})},
                       **kwargs)


def test_valid_signature_is_accepted_and_stored(client, services):
    params = form()
    response = post(client, params, sign("/sms/inbound", params))
    assert response.status_code == 200
    assert stored(services) == 2  # the message and the unknown-number note


@pytest.mark.parametrize(
    "case",
    ["missing", "empty", "forged_token", "tampered_body", "added_param", "removed_param",
     "wrong_url", "wrong_path", "garbage"],
)
def test_bad_signatures_get_403_and_nothing_is_stored(client, services, case):
    params = form()
    signature: str | None = sign("/sms/inbound", params)
    if case == "missing":
        signature = None
    elif case == "empty":
        signature = ""
    elif case == "forged_token":
        signature = sign("/sms/inbound", params, token="not-the-real-token")
    elif case == "tampered_body":
        params = {**params, "Body": "STOP"}
    elif case == "added_param":
        params = {**params, "FromCity": "Anytown"}
    elif case == "removed_param":
        params = {k: v for k, v in params.items() if k != "To"}
    elif case == "wrong_url":
        signature = sign("/sms/inbound", params, base="https://attacker.example")
    elif case == "wrong_path":
        signature = sign("/sms/status", params)
    elif case == "garbage":
        signature = "!!not-base64!!"
    response = post(client, params, signature)
    assert response.status_code == 403
    assert stored(services) == 0


def test_query_string_is_part_of_the_signed_url(client, services):
    params = form()
    good = sign("/sms/inbound?source=sms", params)
    assert post(client, params, sign("/sms/inbound", params),
                query_string={"source": "sms"}).status_code == 403
    assert post(client, params, good, query_string={"source": "sms"}).status_code == 200


def test_repeated_parameters_are_validated_not_crashed(client, services):
    params = MultiDict([*form().items(), ("MediaUrl", "https://a.example/1"),
                        ("MediaUrl", "https://a.example/2")])
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + "/sms/inbound", params)
    assert post(client, params, signature).status_code == 200
    assert post(client, params, sign("/sms/inbound", params.to_dict())).status_code == 403


def app_for(db_url: str, clock: Any, sender: Any, **overrides: Any) -> Any:
    services = build_services(make_config(db_url, **overrides), clock=clock, sender=sender)
    app = create_app(services=services)
    app.config.update(TESTING=True)
    return app


def test_behind_a_tls_proxy_the_public_url_is_what_is_signed(db_url, clock, sender):
    """Twilio signs https://public/...; the app sees http://127.0.0.1:8000/... from the proxy."""
    app = app_for(db_url, clock, sender, twilio__public_url="https://sms.example.org/")
    client = app.test_client()
    params = form()
    as_twilio = sign("/sms/inbound", params, base="https://sms.example.org")
    as_seen = sign("/sms/inbound", params, base="http://127.0.0.1:8000")
    base = "http://127.0.0.1:8000"
    assert post(client, params, as_seen, base_url=base).status_code == 403
    assert post(client, params, as_twilio, base_url=base).status_code == 200
    app.extensions["peerline"].db.dispose()


def test_without_public_url_the_url_flask_saw_is_what_is_signed(db_url, clock, sender):
    app = app_for(db_url, clock, sender, twilio__public_url="")
    client = app.test_client()
    params = form()
    base = "http://127.0.0.1:8000"
    assert post(client, params, sign("/sms/inbound", params), base_url=base).status_code == 403
    assert post(client, params, sign("/sms/inbound", params, base=base),
                base_url=base).status_code == 200
    app.extensions["peerline"].db.dispose()


def test_without_public_url_forwarded_headers_describe_the_signed_url(db_url, clock, sender):
    """Behind nginx/a load balancer with no public_url set: X-Forwarded-Proto/Host count."""
    app = app_for(db_url, clock, sender, twilio__public_url="")
    client = app.test_client()
    params = form()
    as_twilio = sign("/sms/inbound", params, base="https://sms.example.org")
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.org"}
    base = "http://127.0.0.1:8000"
    assert post(client, params, as_twilio, base_url=base).status_code == 403
    assert post(client, params, as_twilio, base_url=base,
                extra_headers=forwarded).status_code == 200
    other = form()
    elsewhere = sign("/sms/inbound", other, base="https://attacker.example")
    assert post(client, other, elsewhere, base_url=base,
                extra_headers=forwarded).status_code == 403
    app.extensions["peerline"].db.dispose()


def test_no_auth_token_refuses_everything_while_validation_is_on(db_url, clock, sender):
    app = app_for(db_url, clock, sender, twilio__auth_token="")
    params = form()
    response = post(app.test_client(), params, sign("/sms/inbound", params))
    assert response.status_code == 403
    assert stored(app.extensions["peerline"]) == 0
    app.extensions["peerline"].db.dispose()


def test_validate_signatures_false_accepts_unsigned_requests(db_url, clock, sender):
    app = app_for(db_url, clock, sender, twilio__validate_signatures=False)
    response = post(app.test_client(), form(), None)
    assert response.status_code == 200
    assert stored(app.extensions["peerline"]) == 2
    app.extensions["peerline"].db.dispose()


def test_status_callback_needs_a_signature_too(client, services, people):
    from bot.outbox.queue import queue_message

    with services.db.session() as session:
        message = queue_message(session, phone="+12025550123", body="hi", kind="nudge",
                                now=services.clock.now())
        message.sid = "SMstatus1"
    params = {"MessageSid": "SMstatus1", "MessageStatus": "delivered"}
    assert post(client, params, None, path="/sms/status").status_code == 403
    forged = sign("/sms/status", params, token="nope")
    assert post(client, params, forged, path="/sms/status").status_code == 403
    with services.db.session() as session:
        assert session.scalar(select(Message.status).where(Message.sid == "SMstatus1")) == "queued"
    good = sign("/sms/status", params)
    assert post(client, params, good, path="/sms/status").status_code == 204
    with services.db.session() as session:
        assert session.scalar(select(Message.status).where(Message.sid == "SMstatus1")) \
            == "delivered"
