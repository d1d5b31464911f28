"""Odd inbound requests never give a 5xx, on SQLite and PostgreSQL, and bodies are kept as sent."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from bot.models import Message
from tests.conftest import PARTICIPANT_PHONE, replies, sign


def post(app: Any, params: dict[str, str]) -> Any:
    headers = {"X-Twilio-Signature": sign("/sms/inbound", params)}
    return app.test_client().post("/sms/inbound", data=params, headers=headers)


def stored_body(app: Any, sid: str) -> str | None:
    with app.extensions["peerline"].db.session() as session:
        return session.scalar(select(Message.body).where(Message.sid == sid))


BODIES = {
    "empty": "",
    "spaces": "   ",
    "long_1600": "My back hurts. " * 106 + "ok",
    "emoji": "pain is a 7 today 😣🙏🏽 👨‍👩‍👧",
    "arabic": "ألمي اليوم سبعة من عشرة",
    "mixed_rtl": "7 من 10 today",
    "cjk": "今日は痛みが7です",
    "zalgo": "s̷t̷o̷p̷",
    "control_chars": "a\x01b\x1bc\r\nd",
    "lone_combining": "\u0301\u0301",
    "bidi_controls": "\u202eevil\u202c",
}


@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
def test_odd_bodies_are_stored_as_sent_and_answered(db_app, body):
    sid = f"SM{uuid.uuid4().hex}"
    response = post(db_app, {"MessageSid": sid, "From": PARTICIPANT_PHONE, "Body": body,
                             "NumMedia": "0"})
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    replies(response)  # well-formed TwiML
    assert stored_body(db_app, sid) == body


def test_nul_bytes_are_dropped_not_crashed(db_app):
    """PostgreSQL text cannot hold NUL; the rest of the message is kept."""
    sid = f"SM{uuid.uuid4().hex}"
    response = post(db_app, {"MessageSid": sid, "From": PARTICIPANT_PHONE, "Body": "7\x00 ok\x00"})
    assert response.status_code == 200
    assert stored_body(db_app, sid) == "7 ok"


@pytest.mark.parametrize(
    "params",
    [
        {"MessageSid": "SM\x00nul", "From": PARTICIPANT_PHONE, "Body": "hi"},
        {"MessageSid": "SMfromnul", "From": "+1202555\x000123", "Body": "hi"},
        {"MessageSid": "SMbig", "From": PARTICIPANT_PHONE, "Body": "", "NumMedia": "9" * 30},
        {"MessageSid": "SMneg", "From": PARTICIPANT_PHONE, "Body": "", "NumMedia": "-4"},
        {"MessageSid": "SMword", "From": PARTICIPANT_PHONE, "Body": "", "NumMedia": "two"},
        {"MessageSid": "S" * 65, "From": PARTICIPANT_PHONE, "Body": "hi"},
        {"MessageSid": "SM' OR 1=1 --", "From": PARTICIPANT_PHONE, "Body": "hi"},
        {"MessageSid": "SMlongfrom", "From": "+1" * 40, "Body": "hi"},
        {"MessageSid": "SMalpha", "From": "whatsapp:+12025550123", "Body": "hi"},
        {"MessageSid": "SMemojifrom", "From": "😀" * 40, "Body": "hi"},
    ],
    ids=["nul_sid", "nul_from", "huge_num_media", "negative_num_media", "word_num_media",
         "long_sid", "quote_sid", "long_from", "channel_from", "emoji_from"],
)
def test_odd_fields_never_give_a_5xx(db_app, params):
    response = post(db_app, params)
    assert response.status_code in (200, 400)


def test_mms_without_a_body_is_stored_with_its_media_count(db_app):
    sid = f"MM{uuid.uuid4().hex}"
    response = post(db_app, {"MessageSid": sid, "From": PARTICIPANT_PHONE, "NumMedia": "1",
                             "MediaUrl0": "https://api.twilio.com/media/1",
                             "MediaContentType0": "image/jpeg"})
    assert response.status_code == 200
    with db_app.extensions["peerline"].db.session() as session:
        message = session.scalar(select(Message).where(Message.sid == sid))
        assert message is not None
        assert (message.body, message.num_media) == ("", 1)


@pytest.mark.parametrize("missing", ["From", "MessageSid"])
def test_missing_from_or_sid_is_a_400_and_nothing_is_stored(db_app, missing):
    params = {"MessageSid": f"SM{uuid.uuid4().hex}", "From": PARTICIPANT_PHONE, "Body": "hi"}
    del params[missing]
    assert post(db_app, params).status_code == 400
    with db_app.extensions["peerline"].db.session() as session:
        assert session.scalars(select(Message)).all() == []


def test_invalid_utf8_percent_encoding_is_kept_verbatim_not_crashed(db_app):
    """Werkzeug keeps a value it cannot decode as the raw percent-encoded text."""
    sid = f"SM{uuid.uuid4().hex}"
    raw = f"MessageSid={sid}&From={quote(PARTICIPANT_PHONE)}&Body=ok%FF%FE%C3"
    seen = {"MessageSid": sid, "From": PARTICIPANT_PHONE, "Body": "ok%FF%FE%C3"}
    response = db_app.test_client().post(
        "/sms/inbound", data=raw, content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": sign("/sms/inbound", seen)})
    assert response.status_code == 200
    assert stored_body(db_app, sid) == "ok%FF%FE%C3"


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(b"", "application/x-www-form-urlencoded"), (b"{\"Body\": 1}", "application/json"),
     (b"\xff\xfe\x00", "application/octet-stream"), (b"a=" + b"x" * 300_000,
                                                     "application/x-www-form-urlencoded")],
    ids=["empty_request", "json", "binary", "too_large"],
)
def test_non_form_requests_are_refused_without_a_5xx(db_app, data, content_type):
    response = db_app.test_client().post("/sms/inbound", data=data, content_type=content_type,
                                         headers={"X-Twilio-Signature": "x"})
    assert 400 <= response.status_code < 500
