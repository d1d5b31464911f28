"""Fixtures shared by the whole suite: config, databases, clock, sender, app, client, runner.

SQLite runs everywhere. PostgreSQL tests run when PEERLINE_TEST_POSTGRES_URL
names a server role that may create databases (.ci/run sets it); each such
test gets a fresh database copied from a migrated template.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, String, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import Pool
from twilio.request_validator import RequestValidator

from bot import create_app
from bot.core.clock import FrozenClock
from bot.core.config import load_config
from bot.core.db import Database, upgrade
from bot.flows.safety import SafetyMatcher, load_safety
from bot.services import Services, build_services
from bot.sms import SendResult

pytest_plugins = ["tests.fake_twilio", "tests.prism", "tests.dashboard_support",
                  "tests.sched_support", "tests.sms_support"]

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
REPO_ROOT = Path(__file__).resolve().parent.parent
PUBLIC_URL = "https://peerline.example.org"
START = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
POSTGRES_URL = os.environ.get("PEERLINE_TEST_POSTGRES_URL", "")
_template_lock = threading.Lock()
_template_ready: list[str] = []
# One template per test session: sessions running side by side on one server must not
# drop each other's template.
_PG_TEMPLATE = f"peerline_template_{uuid.uuid4().hex[:8]}"


class RecordingSender:
    """An SmsSender that records what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> SendResult:
        with self._lock:
            self.sent.append((to, body))
            return SendResult(sid=f"SM{uuid.uuid4().hex}", status="queued")

    def bodies_to(self, phone: str) -> list[str]:
        return [body for to, body in self.sent if to == phone]


_opened: list[Any] = []


class TooLong(AssertionError):
    """A value longer than its VARCHAR column: PostgreSQL refuses it, SQLite stores it."""


@event.listens_for(Engine, "before_cursor_execute")
def _fits_its_column(_conn: Any, _cursor: Any, _statement: str, _parameters: Any,
                     context: Any, _executemany: bool) -> None:
    """Fail a test whose INSERT or UPDATE writes a string longer than its column.

    SQLite ignores VARCHAR lengths, so without this a value that PostgreSQL
    would refuse (e.g. a 13-letter kind in a VARCHAR(12)) passes every SQLite test.
    """
    compiled = getattr(context, "compiled", None)
    if compiled is None or not (context.isinsert or context.isupdate):
        return
    table = getattr(compiled.statement, "table", None)
    columns = getattr(table, "c", None)
    if columns is None:
        return
    for params in context.compiled_parameters:
        for key, value in params.items():
            if not isinstance(value, str) or key not in columns:
                continue
            column_type = columns[key].type
            length = getattr(column_type, "length", None)
            if isinstance(column_type, String) and length is not None and len(value) > length:
                raise TooLong(f"{table.name}.{key} is VARCHAR({length}); a test wrote "
                              f"{len(value)} characters ({value[:40]!r})")


@event.listens_for(Pool, "connect")
def _remember_connection(dbapi_connection: Any, _record: Any) -> None:
    """Remember every PostgreSQL connection a test opens (SQLite ones need no closing)."""
    if type(dbapi_connection).__module__.startswith("psycopg"):
        _opened.append(dbapi_connection)


@pytest.fixture(autouse=True)
def _close_leftover_connections() -> Iterator[None]:
    """Close PostgreSQL connections a test left open, so psycopg never warns in a later test."""
    yield
    while _opened:
        connection = _opened.pop()
        if not connection.closed:
            connection.close()


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test in its own folder with no PEERLINE_* settings from the outside."""
    for name in list(os.environ):
        if name.startswith("PEERLINE_") and not name.startswith("PEERLINE_TEST_"):
            monkeypatch.delenv(name)
    flows_dir = os.path.join(os.path.dirname(os.path.dirname(__file__)), "flows")
    monkeypatch.setenv("PEERLINE_FLOWS_DIR", flows_dir)
    monkeypatch.chdir(tmp_path)


def need(reason: str) -> None:
    """Skip with `reason`; under CI (PEERLINE_TEST_REQUIRE_ALL=1) fail instead."""
    if os.environ.get("PEERLINE_TEST_REQUIRE_ALL"):
        pytest.fail(f"CI requires this test to run: {reason}")
    pytest.skip(reason)


def _postgres_database() -> str:
    """Return the URL of a fresh migrated PostgreSQL database (skip if none is configured)."""
    if not POSTGRES_URL:
        need("PostgreSQL not configured: set PEERLINE_TEST_POSTGRES_URL (.ci/run does)")
    admin = make_url(POSTGRES_URL)
    with _template_lock:
        if not _template_ready:
            engine = create_engine(admin, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{_PG_TEMPLATE}"'))
            engine.dispose()
            upgrade(admin.set(database=_PG_TEMPLATE).render_as_string(hide_password=False))
            atexit.register(_drop_postgres, _PG_TEMPLATE)
            _template_ready.append("yes")
    name = f"peerline_t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_PG_TEMPLATE}"'))
    finally:
        engine.dispose()  # also on failure: a connection left to the GC fails a later test
    return admin.set(database=name).render_as_string(hide_password=False)


def _drop_postgres(url: str) -> None:
    """Drop a test database; retry while a session we may not end (autovacuum) is in it."""
    admin = make_url(POSTGRES_URL)
    name = make_url(url).database if "/" in url else url
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        for attempt in range(20):
            try:
                with engine.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                return
            except DBAPIError as error:  # "not allowed to end another session": it ends soon
                if attempt == 19 or getattr(error.orig, "sqlstate", "") not in ("42501", "55006"):
                    raise
                time.sleep(0.25)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of one migrated SQLite file; tests get copies (a migration per test is slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return str(path)


def _sqlite_copy(template: str, folder: Any) -> str:
    target = os.path.join(str(folder), "peerline.db")
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A migrated database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield _sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)
    else:
        url = _postgres_database()
        yield url
        _drop_postgres(url)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated PostgreSQL database URL (skipped without PostgreSQL)."""
    url = _postgres_database()
    yield url
    _drop_postgres(url)


@pytest.fixture
def db_url(tmp_path: Any, sqlite_template: str) -> str:
    """A migrated SQLite database URL."""
    return _sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture(scope="session")
def shipped() -> SafetyMatcher:
    """Return the safety screen of the shipped flows/safety.yaml (frozen: shared per worker)."""
    matcher, report = load_safety(REPO_ROOT / "flows" / "safety.yaml")
    assert matcher is not None, report.problems
    return matcher


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


def make_config(db_url: str, **overrides: Any) -> Any:
    """Return a test Config: given database, signatures on with the test token."""
    values = {
        "database__url": db_url,
        "twilio__auth_token": AUTH_TOKEN,
        "twilio__public_url": PUBLIC_URL,
        "web__secret_key": "test-secret-key",
        "web__secure_cookies": False,
    }
    values.update(overrides)
    return load_config(None, overrides=values)


@pytest.fixture
def config(db_url: str) -> Any:
    return make_config(db_url)


@pytest.fixture
def services(config: Any, clock: FrozenClock, sender: RecordingSender) -> Iterator[Services]:
    built = build_services(config, clock=clock, sender=sender)
    yield built
    built.db.dispose()


@pytest.fixture
def app(services: Services) -> Any:
    flask_app = create_app(services=services)
    flask_app.config.update(TESTING=True)
    return flask_app


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


def sign(path: str, params: dict[str, str], token: str = AUTH_TOKEN,
         base: str = PUBLIC_URL) -> str:
    """Return the X-Twilio-Signature Twilio would send for a POST of `params` to `path`."""
    return str(RequestValidator(token).compute_signature(base + path, params))


class Sms:
    """Post signed inbound texts to the test client, like Twilio does."""

    def __init__(self, client: Any):
        self.client = client
        self.count = 0

    def send(self, phone: str, body: str, sid: str | None = None, **extra: str) -> Any:
        self.count += 1
        params = {"MessageSid": sid or f"SM{uuid.uuid4().hex}", "From": phone,
                  "To": "+12025550100", "Body": body, "NumMedia": "0", **extra}
        headers = {"X-Twilio-Signature": sign("/sms/inbound", params)}
        return self.client.post("/sms/inbound", data=params, headers=headers)


@pytest.fixture
def sms(client: Any) -> Sms:
    return Sms(client)


def replies(response: Any) -> list[str]:
    """Return the <Message> texts of a TwiML response."""
    from xml.etree import ElementTree

    root = ElementTree.fromstring(response.data)
    return [el.text or "" for el in root.iter("Message")]


__all__ = ["Database", "RecordingSender", "Sms", "make_config", "replies", "sign"]


COACH_PHONE = "+12025550101"
PARTICIPANT_PHONE = "+12025550123"


@pytest.fixture
def db_app(any_db_url: str, clock: Any, sender: Any) -> Iterator[Any]:
    """The app on SQLite and on PostgreSQL, with Alex and Sam enrolled."""
    services, app = enrolled_app(make_config(any_db_url), clock, sender)
    yield app
    services.db.dispose()


def enrolled_app(config: Any, clock: Any, sender: Any) -> tuple[Services, Any]:
    """Return services and a test app on `config` with coach Alex and veteran Sam enrolled."""
    from bot.domain.people import add_coach, add_participant

    services = build_services(config, clock=clock, sender=sender)
    with services.db.session() as session:
        coach = add_coach(session, name="Alex Rivera", phone=COACH_PHONE, now=clock.now())
        add_participant(session, phone=PARTICIPANT_PHONE, name="Sam Carter", coach=coach,
                        timezone="America/New_York", now=clock.now())
    app = create_app(services=services)
    app.config.update(TESTING=True)
    return services, app


@pytest.fixture
def people(services: Services) -> dict[str, int]:
    """Enrol coach Alex (+12025550101) and veteran Sam (+12025550123) in New York."""
    from bot.domain.people import add_coach, add_participant

    with services.db.session() as session:
        coach = add_coach(session, name="Alex Rivera", phone=COACH_PHONE, now=START,
                          username="alex", password="alex-password")
        participant = add_participant(session, phone=PARTICIPANT_PHONE, name="Sam Carter",
                                      coach=coach, timezone="America/New_York", now=START)
        return {"coach": coach.id, "participant": participant.id}
