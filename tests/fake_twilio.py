"""A real local HTTP server that answers like Twilio's Messages create endpoint.

Prism (tests/prism.py) checks our requests against Twilio's published spec
but can only answer 201. This fake answers the error paths too, over a real
socket, so `TwilioSender` and the outbox sender are exercised end to end.

Use it as a pytest fixture (registered by tests/conftest.py)::

    def test_retry(fake_twilio):
        fake_twilio.script(SERVER_ERROR, OK)      # first request 500, then 201
        fake_twilio.fail_for("+12025550123", OPTED_OUT)   # this number always 21610
        fake_twilio.latency = 0.05                # seconds per request
        config = make_config(db_url, **fake_twilio.config_overrides())
        ...
        assert fake_twilio.sent() == [("+12025550123", "hello")]
        assert fake_twilio.max_concurrent <= 8

or alone (benchmarks): ``python -m tests.fake_twilio --port 4011 --latency 0.1``.

What it does:
- `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP
  basic auth (`account_sid`:`auth_token`; 401 with code 20003 otherwise).
- `To` and one of `From`/`MessagingServiceSid` and `Body`/`MediaUrl` are
  required (400 with Twilio's codes 21604, 21603, 21602), like Twilio.
- Success is 201 with a message resource JSON (`sid`, `status: queued`,
  `num_segments` as a string, ...). Errors are Twilio's error JSON
  (`code`, `message`, `more_info`, `status`).
- Every request is recorded (`requests`), failed or not, in arrival order; one cut
  off before its whole body arrived (a killed client) is not a request Twilio would
  act on, and is only counted (`incomplete`).
- Outcomes: during an `outage` every request gets its outcomes in turn; else
  a recipient can be made to fail every time (`fail_for`); else scripted ones
  are consumed one per request (`script`); else OK.
- `Recorded.at` reads `time` (time.monotonic; a test on virtual time sets its own).
"""

from __future__ import annotations

import argparse
import base64
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"  # the same as tests.conftest.AUTH_TOKEN
STAFF_PHONE = "+12025550198"
FROM_NUMBER = "+12025550100"
_PATH_PREFIX = "/2010-04-01/Accounts/"


@dataclass(frozen=True)
class Outcome:
    """How the fake answers one request: a status with an optional Twilio error code."""

    status: int = 201
    code: int | None = None
    message: str = ""
    drop: bool = False  # close the connection without any answer
    delay: float = 0.0  # extra seconds before answering (on top of `latency`)


OK = Outcome()
SERVER_ERROR = Outcome(500, 20500, "Internal Server Error")
SERVICE_UNAVAILABLE = Outcome(503, 20503, "Service Unavailable")
RATE_LIMITED = Outcome(429, 20429, "Too Many Requests")
OPTED_OUT = Outcome(400, 21610, "Attempt to send to unsubscribed recipient")
INVALID_TO = Outcome(400, 21211, "The 'To' number is not a valid phone number.")
DROP = Outcome(drop=True)


@dataclass(frozen=True)
class Recorded:
    """One request the fake received, and how it answered."""

    method: str
    path: str
    form: dict[str, str]
    auth: tuple[str, str] | None
    outcome: Outcome
    at: float = field(default=0.0)  # FakeTwilio.time() on arrival (time.monotonic unless set)

    @property
    def to(self) -> str:
        return self.form.get("To", "")

    @property
    def body(self) -> str:
        return self.form.get("Body", "")


class _QuietServer(ThreadingHTTPServer):
    """A threaded HTTP server that does not print clients hanging up (timeouts, drops)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeTwilio:
    """A threaded HTTP server on 127.0.0.1 emulating Twilio's Messages create."""

    def __init__(self, *, latency: float = 0.0, account_sid: str = ACCOUNT_SID,
                 auth_token: str = AUTH_TOKEN, port: int = 0):
        self.latency = latency
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.requests: list[Recorded] = []
        self.incomplete = 0  # requests cut off before their whole body arrived
        self.max_concurrent = 0
        self._in_flight = 0
        self._script: deque[Outcome] = deque()
        self._per_phone: dict[str, Outcome] = {}
        self._outage: tuple[Callable[[], bool], tuple[Outcome, ...]] | None = None
        self._outage_answers = 0
        self.time: Callable[[], float] = time.monotonic
        self._lock = threading.Condition()
        self._server = _QuietServer(("127.0.0.1", port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Return e.g. http://127.0.0.1:43121 (use it as twilio.api_base_url)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def config_overrides(self) -> dict[str, Any]:
        """Return make_config() overrides that send through this fake."""
        return {
            "sms__transport": "twilio",
            "twilio__account_sid": self.account_sid,
            "twilio__auth_token": self.auth_token,
            "twilio__from_number": FROM_NUMBER,
            "twilio__api_base_url": self.base_url,
            "safety__staff_phones": [STAFF_PHONE],  # required with the Twilio transport
        }

    def start(self) -> FakeTwilio:
        """Serve in a background thread; return self."""
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *outcomes: Outcome) -> None:
        """Answer the next requests with `outcomes`, in order (then OK again)."""
        with self._lock:
            self._script.extend(outcomes)

    def fail_for(self, phone: str, outcome: Outcome | None) -> None:
        """Answer every request to `phone` with `outcome` (None: stop doing so)."""
        with self._lock:
            if outcome is None:
                self._per_phone.pop(phone, None)
            else:
                self._per_phone[phone] = outcome

    def outage(self, ongoing: Callable[[], bool] | None, *outcomes: Outcome) -> None:
        """While `ongoing()` is true, answer every request with `outcomes` in turn (None: end)."""
        with self._lock:
            self._outage = (ongoing, outcomes) if ongoing is not None and outcomes else None
            self._outage_answers = 0

    def reset(self) -> None:
        """Forget recorded requests, scripts and per-phone failures."""
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self._per_phone.clear()
            self._outage = None
            self.max_concurrent = 0

    def sent(self) -> list[tuple[str, str]]:
        """Return (To, Body) of every request that was accepted (201)."""
        with self._lock:
            return [(r.to, r.body) for r in self.requests if r.outcome.status == 201
                    and not r.outcome.drop]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Recorded]:
        """Wait until at least `count` requests arrived; return them (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    got = len(self.requests)
                    raise AssertionError(f"fake Twilio got {got} of {count} requests")
                self._lock.wait(left)
            return list(self.requests)

    def _choose(self, to: str) -> Outcome:
        with self._lock:
            if self._outage is not None and self._outage[0]():
                outcomes = self._outage[1]
                self._outage_answers += 1
                return outcomes[(self._outage_answers - 1) % len(outcomes)]
            if to in self._per_phone:
                return self._per_phone[to]
            return self._script.popleft() if self._script else OK

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)
            self._lock.notify_all()

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "status": status,
            "more_info": f"https://www.twilio.com/docs/errors/{code}"}


def _segments(body: str) -> int:
    from bot.sms import segments_for

    return segments_for(body) if body else 1


def _resource(fake: FakeTwilio, form: dict[str, str]) -> dict[str, Any]:
    sid = "SM" + uuid.uuid4().hex
    now = formatdate(usegmt=True)
    return {
        "sid": sid, "account_sid": fake.account_sid, "api_version": "2010-04-01",
        "to": form.get("To"), "from": form.get("From") or None,
        "messaging_service_sid": form.get("MessagingServiceSid") or None,
        "body": form.get("Body", ""), "status": "queued",
        "num_segments": str(_segments(form.get("Body", ""))), "num_media": "0",
        "direction": "outbound-api", "price": None, "price_unit": "USD",
        "error_code": None, "error_message": None,
        "date_created": now, "date_updated": now, "date_sent": None,
        "uri": f"{_PATH_PREFIX}{fake.account_sid}/Messages/{sid}.json",
        "subresource_uris": {
            "media": f"{_PATH_PREFIX}{fake.account_sid}/Messages/{sid}/Media.json",
        },
    }


def _handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else headers and body wait ~40 ms for a delayed ACK

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            """Stay quiet: request lines carry phone numbers."""

        def _auth(self) -> tuple[str, str] | None:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return user, password

        def _send_json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            self._send_json(404, _error(404, 20404, "The requested resource was not found"))

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            fake._enter()
            try:
                self._post()
            finally:
                fake._leave()

        def _post(self) -> None:
            arrived = fake.time()
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            if len(data) < length:  # the client died mid-request: Twilio would not act on it
                fake.incomplete += 1
                self.close_connection = True
                return
            raw = data.decode("utf-8", errors="replace")
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            auth = self._auth()
            expected = f"{_PATH_PREFIX}{fake.account_sid}/Messages.json"
            if self.path.split("?")[0] != expected:
                outcome = Outcome(404, 20404, "The requested resource was not found")
            elif auth != (fake.account_sid, fake.auth_token):
                outcome = Outcome(401, 20003, "Authenticate")
            elif not form.get("To"):
                outcome = Outcome(400, 21604, "A 'To' phone number is required.")
            elif not (form.get("From") or form.get("MessagingServiceSid")):
                outcome = Outcome(400, 21603, "A 'From' or 'MessagingServiceSid' is required.")
            elif not (form.get("Body") or form.get("MediaUrl")):
                outcome = Outcome(400, 21602, "Message body is required.")
            else:
                outcome = fake._choose(form["To"])
            fake._record(Recorded("POST", self.path, form, auth, outcome, arrived))
            pause = fake.latency + outcome.delay
            if pause > 0:
                time.sleep(pause)
            if outcome.drop:
                self.close_connection = True
                return
            if outcome.status == 201:
                self._send_json(201, _resource(fake, form))
            else:
                self._send_json(outcome.status, _error(outcome.status, outcome.code or 0,
                                                       outcome.message))

    return Handler


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """A started FakeTwilio for one test (stopped after)."""
    with FakeTwilio() as fake:
        yield fake


def main() -> None:
    """Serve a fake Twilio until interrupted (for benchmarks and demos)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    args = parser.parse_args()
    fake = FakeTwilio(latency=args.latency, port=args.port).start()
    print(f"fake Twilio at {fake.base_url} (account {fake.account_sid})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
