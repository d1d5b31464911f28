"""Property-based bad input: webhooks and the flow loader never give a 5xx or a traceback.

Each webhook example is checked twice: the HTTP status is below 500, and what
PeerLine logged (through the production redacting handler) holds no traceback,
no body marker and no full phone number.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.core.logs import JsonFormatter, RedactingFilter
from bot.models import Message
from tests.conftest import AUTH_TOKEN, PARTICIPANT_PHONE, sign

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
TWILIO_FIELDS = ["MessageSid", "SmsSid", "From", "To", "Body", "NumMedia", "AccountSid",
                 "MessageStatus", "SmsStatus", "ErrorCode", "MediaUrl0", "FromCity", "ApiVersion"]
# Any text that can travel in a form (UTF-8 cannot carry lone surrogates).
texts = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300)
header_texts = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
values = st.one_of(texts, st.integers().map(str), st.sampled_from(
    ["", " ", "\x00", "+12025550123", "12025550123", "SM" + "a" * 32, "SM" + "a" * 70,
     "delivered", "failed", "undelivered", "queued", "99999999999999999999999", "-1", "21610",
     "STOP", "start", "HELP", "😀" * 200, "عربى", "x" * 5000]))
forms = st.dictionaries(st.one_of(st.sampled_from(TWILIO_FIELDS), texts), values, max_size=8)


@pytest.fixture
def db_url(any_db_url):
    """Run each webhook fuzz on SQLite and on PostgreSQL (whose integers overflow)."""
    return any_db_url


@pytest.fixture
def log_output():
    """Capture log lines as production writes them: redacting filter, JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
def known_sid(services, people):
    """Store one outbound message so status callbacks can hit a real row."""
    with services.db.session() as session:
        session.add(Message(direction="out", sid="SMknown", phone=PARTICIPANT_PHONE, body="hi",
                            kind="reply", status="sent", participant_id=people["participant"],
                            created_at=services.clock.now()))
    return "SMknown"


def _check_logs(stream: io.StringIO, *secrets: str) -> None:
    text = stream.getvalue()
    stream.seek(0)
    stream.truncate()
    assert "Traceback" not in text
    for line in text.splitlines():
        json.loads(line)  # every line stays one JSON object
    for secret in secrets:
        if secret:
            assert secret not in text, f"{secret!r} reached the logs"


@FUZZ
@given(form=forms, signed=st.booleans(), marker=st.uuids())
def test_inbound_any_form_never_5xx(client, people, log_output, form, signed, marker):
    form = dict(form)
    body_marker = f"zq{marker.hex}"
    form["Body"] = f"{form.get('Body', '')} {body_marker}"
    form.setdefault("MessageSid", f"SM{uuid.uuid4().hex}")
    form.setdefault("From", PARTICIPANT_PHONE)
    headers = {"X-Twilio-Signature": sign("/sms/inbound", form) if signed else "bogus"}
    response = client.post("/sms/inbound", data=form, headers=headers)
    assert response.status_code < 500
    assert response.status_code in ((200, 400) if signed else (403,))
    _check_logs(log_output, body_marker, PARTICIPANT_PHONE, PARTICIPANT_PHONE[1:])


@FUZZ
@given(raw=st.binary(max_size=2000), content_type=st.sampled_from(
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain",
     "application/json", ""]), signature=st.one_of(st.none(), header_texts))
def test_inbound_any_bytes_never_5xx(client, log_output, raw, content_type, signature):
    headers = {"Content-Type": content_type}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    for path in ("/sms/inbound", "/sms/status"):
        response = client.post(path, data=raw, headers=headers)
        assert response.status_code < 500
    _check_logs(log_output)


@FUZZ
@given(form=forms, signed=st.booleans(), use_known=st.booleans())
@example(form={"MessageStatus": "failed", "ErrorCode": "9" * 23}, signed=True, use_known=True)
def test_status_any_form_never_5xx(client, known_sid, log_output, form, signed, use_known):
    form = dict(form)
    if use_known:
        form["MessageSid"] = known_sid
    headers = {"X-Twilio-Signature": sign("/sms/status", form) if signed else "bogus"}
    response = client.post("/sms/status", data=form, headers=headers)
    assert response.status_code < 500
    _check_logs(log_output, PARTICIPANT_PHONE)


def test_fuzz_helpers_sign_like_twilio():
    """The signed examples above really pass validation (else the fuzz would test only 403s)."""
    from twilio.request_validator import RequestValidator

    form = {"Body": "hi", "From": PARTICIPANT_PHONE}
    url = "https://peerline.example.org/sms/inbound"
    assert RequestValidator(AUTH_TOKEN).validate(url, form, sign("/sms/inbound", form))
    assert urlencode(form)


STEP_KEYS = ["say", "expect", "save", "invalid", "retries", "on_invalid", "timeout", "next",
             "notify_coach", "escalate", "nudge", "start_flow", "bogus"]
FLOW_KEYS = ["id", "name", "trigger", "start", "expire_after", "steps", "extra"]
leaves = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=True),
                   texts, st.sampled_from(["24h", "3d", "0 10 * * MON", "{{ pain }}", "{% for %}",
                                           "pain >= 8", "{{ undefined_thing }}", "61 * * * *",
                                           "thanks", "pain", "-3h", "number", "yesno"]))
nodes = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(STEP_KEYS + ["type", "min", "max", "options",
                                                          "after", "go", "when", "in",
                                                          "keywords", "schedule"]), texts),
                    inner, max_size=5)), max_leaves=20)
flows = st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.just("fuzz"), leaves), "name": leaves, "start": leaves,
    "expire_after": leaves, "trigger": nodes, "extra": nodes,
    "steps": st.dictionaries(st.one_of(st.sampled_from(["pain", "thanks", "start"]), texts),
                             st.dictionaries(st.sampled_from(STEP_KEYS), nodes, max_size=6),
                             max_size=4)})


@FUZZ
@given(doc=flows)
def test_flow_loader_reports_problems_never_raises(tmp_path, doc):
    from bot.flows.loader import parse_flow
    from bot.flows.validate import validate_flow
    from bot.flows.yamlio import Report

    data = json.dumps(doc, allow_nan=True).encode()  # JSON is YAML
    report = Report("fuzz.yaml")
    flow = parse_flow(Path("fuzz.yaml"), data, report)
    problems = list(report.problems) + (validate_flow(flow) if flow is not None else [])
    for problem in problems:
        assert str(problem).startswith("fuzz.yaml:")


@FUZZ
@given(raw=st.one_of(st.binary(max_size=1500), texts.map(str.encode)))
def test_flow_loader_survives_any_bytes(tmp_path, raw):
    from bot.flows.loader import problems_of

    path = tmp_path / "fuzz.yaml"
    path.write_bytes(raw)
    flow, problems = problems_of(path)
    assert flow is None or not problems or all(p.line >= 1 for p in problems)
    assert all(str(p).startswith(str(path)) for p in problems)
