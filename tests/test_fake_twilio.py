"""The fake Twilio server that other tests and benchmarks rely on behaves as documented."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from tests.fake_twilio import DROP, OK, OPTED_OUT, SERVER_ERROR, FakeTwilio

TO = "+12025550123"


def create(fake: FakeTwilio, session: Any = requests, **form: str) -> Any:
    data = {"To": TO, "From": "+12025550100", "Body": "hi", **form}
    return session.post(f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json",
                        data=data, auth=(fake.account_sid, fake.auth_token), timeout=5)


def test_success_looks_like_a_twilio_message(fake_twilio):
    response = create(fake_twilio, Body="x" * 161)
    assert response.status_code == 201
    body = response.json()
    assert body["sid"].startswith("SM") and body["status"] == "queued"
    assert body["num_segments"] == "2"
    assert fake_twilio.sent() == [(TO, "x" * 161)]


@pytest.mark.parametrize(("form", "code"), [({"To": ""}, 21604), ({"From": ""}, 21603),
                                            ({"Body": ""}, 21602)])
def test_missing_fields_are_refused_like_twilio(fake_twilio, form, code):
    response = create(fake_twilio, **form)
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert fake_twilio.sent() == []


def test_wrong_credentials_get_401(fake_twilio):
    response = requests.post(
        f"{fake_twilio.base_url}/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json",
        data={"To": TO, "From": "+12025550100", "Body": "hi"}, auth=("AC1", "nope"), timeout=5)
    assert (response.status_code, response.json()["code"]) == (401, 20003)


def test_script_is_consumed_in_order_then_ok(fake_twilio):
    fake_twilio.script(SERVER_ERROR, OPTED_OUT, OK)
    codes = [create(fake_twilio).status_code for _ in range(4)]
    assert codes == [500, 400, 201, 201]
    assert [r.outcome for r in fake_twilio.requests] == [SERVER_ERROR, OPTED_OUT, OK, OK]


def test_fail_for_one_phone_only(fake_twilio):
    fake_twilio.fail_for(TO, OPTED_OUT)
    assert create(fake_twilio).json()["code"] == 21610
    assert create(fake_twilio, To="+12025550124").status_code == 201
    fake_twilio.fail_for(TO, None)
    assert create(fake_twilio).status_code == 201


def test_drop_closes_without_an_answer(fake_twilio):
    fake_twilio.script(DROP)
    with pytest.raises(requests.ConnectionError):
        create(fake_twilio)
    assert len(fake_twilio.requests) == 1


def test_latency_and_concurrency_are_measured(fake_twilio):
    fake_twilio.latency = 0.2
    threads = [threading.Thread(target=create, args=(fake_twilio,)) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    fake_twilio.wait_for(4, timeout=5)
    for thread in threads:
        thread.join()
    assert 0.2 <= time.monotonic() - started < 1.0  # served side by side, not one by one
    assert fake_twilio.max_concurrent == 4


def test_keep_alive_requests_are_fast(fake_twilio):
    """Guards against Nagle + delayed ACK (~40 ms a request), which skews rate tests."""
    with requests.Session() as session:
        create(fake_twilio, session)
        started = time.monotonic()
        for _ in range(20):
            create(fake_twilio, session)
        assert (time.monotonic() - started) / 20 < 0.03


def test_wait_for_times_out_with_a_clear_message(fake_twilio):
    with pytest.raises(AssertionError, match="got 0 of 1"):
        fake_twilio.wait_for(1, timeout=0.1)


@pytest.mark.parametrize("sent", [b"", b"To=%2B12025550123&From=%2B12025550100&Body=faul"])
def test_a_request_cut_off_by_a_killed_client_is_not_recorded(fake_twilio, sent):
    """A sender killed between the headers and the end of the body sent no message.

    Real Twilio never acts on a request whose body is shorter than its Content-Length;
    recording it (with an empty or truncated Body) made test_faults count a 301st text.
    """
    import base64
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(fake_twilio.base_url)
    auth = base64.b64encode(f"{fake_twilio.account_sid}:{fake_twilio.auth_token}".encode())
    path = f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    with socket.create_connection((url.hostname, url.port), timeout=5) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                     f"Authorization: Basic {auth.decode()}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     "Content-Length: 80\r\n\r\n".encode() + sent)
        conn.shutdown(socket.SHUT_WR)  # the process died: no more bytes
        conn.recv(1024)
    time.sleep(0.2)
    assert fake_twilio.requests == []
    assert create(fake_twilio).status_code == 201  # the server still serves others
