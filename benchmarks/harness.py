"""Shared benchmark plumbing: databases, seed data, servers, wrk, RSS."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

PG_ADMIN = os.environ.get(
    "PEERLINE_BENCH_POSTGRES_URL", "postgresql+psycopg://peerline:peerline@127.0.0.1:5432/postgres"
)
VENV_BIN = Path(sys.executable).parent
NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
# What enrolment sets program_end_at to ([program] length's default): a row seeded without
# one is filled by the scheduler's program_arc job, 1,000 per pass, which no real row needs.
PROGRAM_LENGTH = timedelta(weeks=16)


def phone_for(index: int) -> str:
    """Return the synthetic E.164 number of participant `index` (valid US numbers)."""
    return f"+1617{2000000 + index:07d}"


def coach_phone_for(index: int) -> str:
    """Return the synthetic E.164 number of coach `index`."""
    return f"+1508{2000000 + index:07d}"


def machine_note() -> str:
    """Describe the machine, since every figure here depends on it."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPU cores shared by load generator and servers; "
            f"load average before the run {load}")


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sqlite_url(folder: str | os.PathLike[str], name: str = "bench.db") -> str:
    """Return an SQLite URL in `folder`."""
    return f"sqlite:///{Path(folder) / name}"


def fresh_postgres(name: str) -> str:
    """Drop and create the dedicated database `name`; return its URL."""
    admin = make_url(PG_ADMIN)
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin.set(database=name).render_as_string(hide_password=False)


def postgres_available() -> bool:
    """Tell whether the benchmark PostgreSQL server answers."""
    try:
        engine = create_engine(PG_ADMIN)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False


def migrate(url: str) -> None:
    """Create the schema with the project's own migrations."""
    from bot.core.db import upgrade

    upgrade(url)


def seed(url: str, participants: int, coaches: int | None = None, *, batch: int = 20_000,
         timezones: tuple[str, ...] = ("America/New_York", "America/Chicago",
                                       "America/Los_Angeles", "Asia/Tokyo")) -> float:
    """Bulk-insert coaches and `participants` active participants; return seconds taken."""
    from bot.models import Coach, ConsentEvent, Participant

    coaches = coaches or max(1, participants // 50)
    started = time.perf_counter()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(Coach), [
            {"id": i + 1, "name": f"Coach {i}", "phone": coach_phone_for(i), "role": "coach",
             "timezone": "America/New_York", "active": True, "failed_logins": 0,
             "created_at": NOW}
            for i in range(coaches)
        ])
        for start in range(0, participants, batch):
            stop = min(participants, start + batch)
            conn.execute(insert(Participant), [
                {"id": i + 1, "phone": phone_for(i), "name": f"Vet {i} Test",
                 "coach_id": i % coaches + 1, "timezone": timezones[i % len(timezones)],
                 "status": "active", "nudges_paused": False, "strategies": [], "fields": {},
                 "enrolled_at": NOW, "program_end_at": NOW + PROGRAM_LENGTH}
                for i in range(start, stop)
            ])
            conn.execute(insert(ConsentEvent), [
                {"participant_id": i + 1, "kind": "enrolled", "method": "bench",
                 "created_at": NOW}
                for i in range(start, stop)
            ])
        if engine.dialect.name == "postgresql":
            for table in ("coaches", "participants"):
                conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"))
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def write_config(folder: str | os.PathLike[str], url: str, **sections: dict[str, Any]) -> Path:
    """Write a private config.toml for a benchmark server; return its path."""
    values: dict[str, dict[str, Any]] = {
        "database": {"url": url},
        "web": {"secret_key": "bench-secret-key", "secure_cookies": False},
        "twilio": {"auth_token": "bench-auth-token", "validate_signatures": False},
        "logging": {"level": "WARNING"},
    }
    for section, table in sections.items():
        values.setdefault(section, {}).update(table)
    lines = []
    for section, table in values.items():
        lines.append(f"[{section}]")
        for key, value in table.items():
            if isinstance(value, bool):
                lines.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, int | float):
                lines.append(f"{key} = {value}")
            else:
                lines.append(f'{key} = "{value}"')
    path = Path(folder) / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until `url` answers with any HTTP status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop `proc` and its process group: SIGTERM, then SIGKILL after `timeout` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def gunicorn(app_spec: str, *, workers: int = 2, flags: tuple[str, ...] = (),
             env: dict[str, str] | None = None, cwd: str | None = None,
             probe: str = "/healthz", log_path: Path | None = None, nice: int = 0,
             ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run gunicorn serving `app_spec` on a free port; yield (base URL, process).

    Its output goes to `log_path` when given, else to a temporary file; `nice`
    starts it at that niceness (`nice -n`), workers included.
    """
    port = free_port()
    log = (open(log_path, "wb") if log_path is not None else  # noqa: SIM115 - closed below
           tempfile.NamedTemporaryFile(prefix="gunicorn-", suffix=".log", delete=False))
    cmd = [*(["nice", "-n", str(nice)] if nice else []), str(VENV_BIN / "gunicorn"),
           "-w", str(workers), "-b", f"127.0.0.1:{port}", *flags, app_spec]
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, cwd=cwd or str(ROOT),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + probe, proc=proc)
        yield base, proc
    finally:
        stop_group(proc, timeout=15)
        log.close()
        tail = Path(log.name).read_text(errors="replace").splitlines()[-5:]
        errors = [line for line in tail if "Traceback" in line or "ERROR" in line]
        if errors:
            print(f"  (gunicorn log {log.name} ends with errors: {errors[-1][:160]})")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if not match:
        raise ValueError(value)
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(url: str, *, connections: int, seconds: int, script: Path | None = None,
            args: tuple[str, ...] = (), threads: int = 2) -> dict[str, float]:
    """Run wrk for `seconds` (it stops by itself); return rps, p50/p90/p99 ms and errors."""
    cmd = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s",
           "--latency", "--timeout", "10s"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if args:
        cmd += ["--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                         check=True).stdout
    result: dict[str, float] = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])}  # type: ignore[index]
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        result[f"p{pct}"] = _ms(match[1]) if match else float("nan")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["non2xx"] = float(non2xx[1]) if non2xx else 0.0
    result["socket_errors"] = float(sum(int(x) for x in sock.groups())) if sock else 0.0
    result["requests"] = float(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    return result


def peak_rss_mb(pid: int) -> float:
    """Return the peak resident set size (VmHWM) of process `pid` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_pids(pid: int) -> list[int]:
    """Return the direct children of `pid` (gunicorn's workers)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []
