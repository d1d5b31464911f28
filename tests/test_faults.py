"""Fault tests that fit in CI: kill -9 a sending scheduler; a standby takes over.

Both run real `peerline scheduler` processes against the fake Twilio (a real
local HTTP server) on SQLite and, when configured, PostgreSQL. The longer
versions, with the numbers recorded in docs/performance.md, are in
benchmarks/faults/.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, insert, select

from bot.models import Coach, Message, Outbox, Participant, SchedulerState
from tests.fake_twilio import FakeTwilio

FLOWS = Path(__file__).resolve().parent.parent / "flows"
PEERLINE = Path(sys.executable).with_name("peerline")


def _config(tmp_path: Path, url: str, **sections: dict[str, object]) -> Path:
    lines = [f'[database]\nurl = "{url}"', f'[flows]\ndir = "{FLOWS}"',
             '[web]\nsecret_key = "k"', '[logging]\nlevel = "WARNING"']
    for section, table in sections.items():
        body = "\n".join(f"{key} = {value!r}".replace("'", '"') if isinstance(value, str)
                         else f"{key} = {str(value).lower()}" for key, value in table.items())
        lines.append(f"[{section}]\n{body}")
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


def _start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([str(PEERLINE), "scheduler", "--config", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, cwd=config.parent,
                                start_new_session=True)


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=40)


def _wait(check, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _queue(url: str, count: int) -> None:
    now = datetime.now(UTC)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(Coach), [{"id": 1, "name": "Coach", "phone": "+15082000000",
                                      "created_at": now}])
        conn.execute(insert(Participant), [
            {"id": i + 1, "phone": f"+1617{2000000 + i:07d}", "name": f"Vet {i}", "coach_id": 1,
             "timezone": "America/New_York", "enrolled_at": now} for i in range(count)])
        conn.execute(insert(Message), [
            {"id": i + 1, "direction": "out", "participant_id": i + 1,
             "phone": f"+1617{2000000 + i:07d}", "body": f"fault #{i}", "kind": "nudge",
             "status": "queued", "created_at": now} for i in range(count)])
        conn.execute(insert(Outbox), [
            {"message_id": i + 1, "kind": "nudge", "to_phone": f"+1617{2000000 + i:07d}",
             "respect_quiet_hours": False, "due_at": now - timedelta(seconds=1),
             "created_at": now} for i in range(count)])
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fault_db(request, tmp_path):  # type: ignore[no-untyped-def]
    """A migrated database for a fault test, SQLite and PostgreSQL."""
    return request.getfixturevalue("db_url" if request.param == "sqlite" else "pg_url")


def test_kill_9_while_sending_loses_nothing_and_repeats_at_most_in_flight(tmp_path, fault_db):
    count, in_flight = 300, 4
    _queue(fault_db, count)
    engine = create_engine(fault_db)

    def unsent() -> int:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).where(Outbox.state != "sent")) or 0)

    with FakeTwilio(latency=0.1) as fake:
        config = _config(tmp_path, fault_db,
                         sms={"transport": "twilio"}, safety={"staff_phones": ["+12025550198"]},
                         twilio={key.split("__")[1]: value
                                 for key, value in fake.config_overrides().items()
                                 if key.startswith("twilio__")}
                         | {"max_messages_per_second": 100.0, "max_in_flight": in_flight},
                         scheduler={"lease_seconds": 5, "interval_seconds": 1})
        log = tmp_path / "scheduler.log"
        first = _start(config, log)
        try:
            assert _wait(lambda: len(fake.requests) >= 60, 60), log.read_text()[-2000:]
        finally:
            _stop(first, signal.SIGKILL)
        assert unsent() > 0, "the kill came too late to test anything"
        second = _start(config, log)
        try:
            assert _wait(lambda: unsent() == 0, 90), log.read_text()[-2000:]
        finally:
            _stop(second)
        seen = collections.Counter((r.to, r.body) for r in fake.requests)
    engine.dispose()
    # The fake ignores a request the kill cut off mid-body (as Twilio would); it used to record
    # it with an empty or truncated Body, a 301st (to, body) pair: no text had gone out twice.
    expected = {(f"+1617{2000000 + i:07d}", f"fault #{i}") for i in range(count)}
    assert set(seen) == expected, sorted(set(seen) ^ expected)[:5]  # none lost, none invented
    assert sum(n - 1 for n in seen.values()) <= in_flight  # only the in-flight ones again


def test_standby_scheduler_takes_over_within_a_minute(tmp_path, fault_db):
    config = _config(tmp_path, fault_db, scheduler={"interval_seconds": 1})
    engine = create_engine(fault_db)

    def holder() -> str | None:
        with engine.connect() as conn:
            return conn.scalar(select(SchedulerState.holder)
                               .where(SchedulerState.name == "scheduler"))

    log = tmp_path / "schedulers.log"
    one, two = _start(config, log), _start(config, log)
    try:
        assert _wait(lambda: holder() is not None, 60), log.read_text()[-2000:]
        active, standby = (one, two) if holder().endswith(f":{one.pid}") else (two, one)
        time.sleep(2)
        assert holder().endswith(f":{active.pid}")  # the standby did not act meanwhile
        _stop(active, signal.SIGKILL)
        killed = time.monotonic()
        assert _wait(lambda: (holder() or "").endswith(f":{standby.pid}"), 60), \
            log.read_text()[-2000:]
        assert time.monotonic() - killed < 60
    finally:
        _stop(one)
        _stop(two)
        engine.dispose()
