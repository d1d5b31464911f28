"""`peerline export messages` of a million rows: wall time and peak RSS, CLI and web.

Run: .venv/bin/python benchmarks/export.py [--rows N] [--backend sqlite|postgres|both]
     [--no-web] [--peerline PATH]

- Builds N message rows (default 1,000,000) for 3,270 veterans of 100 coaches
  with bulk Core inserts, once: the SQLite file and the PostgreSQL template
  database are cached (keyed by N and the newest migration) and copied per run.
- Runs `peerline export messages` as a real subprocess to a file and reads its
  peak RSS from wait4() (the child's own ru_maxrss, as RUSAGE_CHILDREN would).
  Targets: < 30 s, < 150 MB. Baselines of the same run: the database's own
  client dumping the same rows as CSV (`sqlite3 -csv`, `psql \\copy`) and a
  bare Python loop over a streaming cursor writing them with csv.writer.
- SQLite: while the CLI export runs, a second connection asks for the write
  lock (what the webhook does for each text) and the wait is printed.
- Web: gunicorn with the deploy flags (gthread, --timeout 30) serves
  bot:create_app(); a staff member downloads the messages export; time to the
  last byte, HTTP status, and the serving worker's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from harness import (
    NOW,
    PG_ADMIN,
    ROOT,
    VENV_BIN,
    child_pids,
    gunicorn,
    machine_note,
    migrate,
    peak_rss_mb,
    postgres_available,
    seed,
    sqlite_url,
    write_config,
)
from sqlalchemy import bindparam, create_engine, insert, text, update
from sqlalchemy.engine import make_url

VETERANS, COACHES, BATCH = 3_270, 100, 20_000
CACHE = Path(tempfile.gettempdir()) / "peerline-bench-export"
COLUMNS = ("id, participant_id, direction, kind, body, status, error_code, flow_id, step_id, "
           "created_at, sent_at")
SELECT = f"SELECT {COLUMNS} FROM messages WHERE participant_id IS NOT NULL ORDER BY id"
BODIES_OUT = ("Hi {v}, how was your walk today? - {c}",
              "Thanks for checking in. Pain {p} of 10 this week; one small step at a time.",
              "Coach {c} here. Call me at (617) 555-01{p:02d} if you want to talk it over.",
              "Reply 0-10: how bad was your pain today?")
BODIES_IN = ("pain {p}", "walked {p} min with the dog", "yes", "rough week, back is sore")
LAUNCHER = shutil.which("python3") or sys.executable
LAUNCH = """
import os, sys
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"\\n{usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""
FIRST = ("Sam", "Maria", "James", "Ana", "Robert", "Luis", "Linda", "Jose", "Michael", "Carmen",
         "David", "Rosa", "William", "Elena", "Richard", "Sofia", "Joseph", "Lucia", "Thomas",
         "Isabel")
LAST = ("Carter", "Garcia", "Smith", "Lopez", "Johnson", "Martinez", "Brown", "Rodriguez",
        "Davis", "Hernandez", "Miller", "Gonzalez", "Wilson", "Perez", "Moore", "Sanchez",
        "Taylor", "Ramirez", "Anderson", "Torres", "Thomas", "Flores", "Jackson", "Rivera")
FLAGS = ("--worker-class", "gthread", "--threads", "4", "--timeout", "30",
         "--graceful-timeout", "20", "--error-logfile", "-", "--log-level", "warning")
LOOP = """
import csv, sys
url, query = sys.argv[1], sys.argv[2]
out = csv.writer(open(sys.argv[3], "w", newline=""), lineterminator="\\r\\n")
if url.startswith("sqlite"):
    import sqlite3
    cursor = sqlite3.connect(url.split("///", 1)[1]).execute(query)
else:
    import psycopg
    conn = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))
    cursor = conn.cursor(name="bench")
    cursor.execute(query)
while rows := cursor.fetchmany(1000):
    out.writerows(rows)
"""


def _revision() -> str:
    """Return what the cached database depends on: the data's shape and the newest migration."""
    return "d2_" + sorted(p.stem for p in (ROOT / "bot/migrations/versions").glob("0*.py"))[-1]


def _name(index: int) -> str:
    return f"{FIRST[index % len(FIRST)]} {LAST[index // len(FIRST) % len(LAST)]}"


def _message_rows(start: int, stop: int) -> list[dict[str, object]]:
    rows = []
    for i in range(start, stop):
        veteran, pain = i % VETERANS, i % 11
        coach = veteran % COACHES
        out = i % 2 == 0
        template = (BODIES_OUT if out else BODIES_IN)[(i // 2) % 4]
        at = NOW - timedelta(days=365) + timedelta(seconds=i * 31)
        rows.append({
            "direction": "out" if out else "in", "participant_id": veteran + 1,
            "coach_id": coach + 1 if out else None, "phone": f"+1617{2000000 + veteran:07d}",
            "body": template.format(v=_name(veteran).split()[0], c=_name(VETERANS + coach),
                                    p=pain), "num_media": 0, "segments": 1,
            "kind": "flow" if out else "participant", "status": "delivered" if out else "received",
            "flow_id": "weekly_checkin" if out else None, "step_id": "pain" if out else None,
            "created_at": at, "sent_at": at if out else None,
        })
    return rows


def build(url: str, rows: int) -> None:
    """Create the schema, the people and `rows` messages at `url` with bulk inserts."""
    from bot.models import Coach, Message, Participant

    migrate(url)
    seed(url, VETERANS, COACHES)
    engine = create_engine(url)
    with engine.begin() as conn:  # names such as staff type, so the scrubber has real work
        for model, count, offset in ((Participant, VETERANS, 0), (Coach, COACHES, VETERANS)):
            conn.execute(update(model).where(model.id == bindparam("key"))
                         .values(name=bindparam("new")),
                         [{"key": i + 1, "new": _name(offset + i)} for i in range(count)])
    for start in range(0, rows, BATCH):
        with engine.begin() as conn:
            conn.execute(insert(Message), _message_rows(start, min(rows, start + BATCH)))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()


def sqlite_copy(rows: int, folder: str) -> str:
    """Return the URL of a fresh copy of the cached SQLite database (built on first use)."""
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"messages-{rows}-{_revision()}.db"
    if not cached.exists():
        started = time.perf_counter()
        building = cached.with_suffix(".building")
        building.unlink(missing_ok=True)
        build(f"sqlite:///{building}", rows)
        engine = create_engine(f"sqlite:///{building}")
        with engine.connect() as conn:  # fold the WAL in, so one file is the database
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        building.rename(cached)
        print(f"   (built {cached} in {time.perf_counter() - started:.0f} s)")
    shutil.copyfile(cached, Path(folder) / "export.db")
    return sqlite_url(folder, "export.db")


def postgres_copy(rows: int) -> str:
    """Return the URL of a fresh copy of the cached PostgreSQL template (built on first use)."""
    admin = make_url(PG_ADMIN)
    template = f"peerline_bench_export_{rows}_{_revision()}"
    copy = f"peerline_bench_export_run_{os.getpid()}"  # runs side by side keep their own
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        have = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": template})
        if not have:
            started = time.perf_counter()
            conn.execute(text(f'DROP DATABASE IF EXISTS "{template}_building" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{template}_building"'))
            build(admin.set(database=f"{template}_building").render_as_string(False), rows)
            conn.execute(text(f'ALTER DATABASE "{template}_building" RENAME TO "{template}"'))
            print(f"   (built {template} in {time.perf_counter() - started:.0f} s)")
        conn.execute(text(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{template}"'))
    engine.dispose()
    return admin.set(database=copy).render_as_string(hide_password=False)


def drop_postgres(url: str) -> None:
    """Drop the run's copy of the template."""
    engine = create_engine(make_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def timed(cmd: list[str], out: Path) -> tuple[float, float, float]:
    """Run `cmd` with stdout to `out`; return wall and CPU seconds, peak RSS in MiB.

    The child is started by a small launcher (a bare `python3 -S`), which reads
    its ru_maxrss with wait4(): a child forked from this process would count
    this process's own memory, which Linux records as the child's peak at exec.
    """
    started = time.perf_counter()
    with out.open("wb") as sink:
        done = subprocess.run([LAUNCHER, "-S", "-c", LAUNCH, *cmd], stdout=sink,
                              stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace")
        raise RuntimeError(f"{cmd[0]} exited {done.returncode}: {error[-400:]}")
    cpu, peak = done.stderr.decode().split()[-2:]
    return seconds, float(cpu), int(peak) / 1024  # Linux: ru_maxrss in KiB


def write_wait(path: str, stop: threading.Event, waits: list[float]) -> None:
    """Ask for SQLite's write lock every 0.5 s (as the webhook does) until `stop`; log waits."""
    import sqlite3

    time.sleep(1.0)
    conn = sqlite3.connect(path, timeout=900, isolation_level=None)
    while not stop.is_set():
        started = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError:  # "database is locked" after the 900 s timeout
            pass
        waits.append(time.perf_counter() - started)
        stop.wait(0.5)
    conn.close()


def cli(backend: str, url: str, folder: str, peerline: str) -> None:
    """Time the CLI export and the same-run baselines."""
    config = write_config(folder, url, flows={"dir": str(ROOT / "flows")})
    out = Path(folder) / "out.csv"
    if backend == "sqlite":
        path = url.split("///", 1)[1]
        client = ["sqlite3", "-csv", path, SELECT]
    else:
        plain = url.replace("postgresql+psycopg", "postgresql")
        client = ["psql", "-q", plain, "-c", f"\\copy ({SELECT}) TO STDOUT CSV"]
    base_s, base_cpu, base_mb = timed(client, out)
    loop_s, loop_cpu, loop_mb = timed([sys.executable, "-c", LOOP, url, SELECT, str(out)],
                                      Path(os.devnull))
    stop, waits = threading.Event(), []
    prober = None
    if backend == "sqlite":
        prober = threading.Thread(target=write_wait, args=(path, stop, waits))
        prober.start()
    try:
        cli_s, cli_cpu, cli_mb = timed([peerline, "export", "messages", "--config",
                                        str(config)], out)
    finally:
        stop.set()
        if prober is not None:
            prober.join()
    lines = sum(1 for _ in out.open(newline=""))
    print(f"   CLI export   {cli_s:6.1f} s wall {cli_cpu:6.1f} s CPU {cli_mb:6.0f} MiB   (target "
          f"< 30 s, < 150 MB; {out.stat().st_size / 1e6:.0f} MB of CSV, {lines:,} lines)")
    print(f"   baseline     {base_s:6.1f} s wall {base_cpu:6.1f} s CPU {base_mb:6.0f} MiB   "
          f"({client[0]} dumping the same rows as CSV)")
    print(f"   baseline     {loop_s:6.1f} s wall {loop_cpu:6.1f} s CPU {loop_mb:6.0f} MiB   "
          f"(bare Python: streaming cursor + csv.writer)")
    if waits:
        print(f"   write lock during the CLI export: longest wait {max(waits):.2f} s "
              f"over {len(waits)} tries (the webhook gives up at 3 s)")


def _cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds process `pid` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not match:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)


def web(url: str, folder: str) -> None:
    """Download the messages export from gunicorn as staff; print time, status, worker RSS."""
    import requests
    from werkzeug.security import generate_password_hash

    from bot.models import Coach

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(Coach).values(name="Bench Staff", role="staff", active=True,
                                          username="bench-staff", failed_logins=0,
                                          password_hash=generate_password_hash("bench-pass"),
                                          timezone="America/New_York", created_at=NOW))
    engine.dispose()
    config = write_config(folder, url, flows={"dir": str(ROOT / "flows")})
    with gunicorn("bot:create_app()", flags=FLAGS, env={"PEERLINE_CONFIG": str(config)},
                  cwd=folder) as (base, proc):
        http = requests.Session()
        token = _csrf(http.get(base + "/login", timeout=30).text)
        http.post(base + "/login", data={"username": "bench-staff", "password": "bench-pass",
                                         "csrf_token": token}, timeout=30)
        token = _csrf(http.get(base + "/staff/exports", timeout=30).text)
        workers = child_pids(proc.pid)
        cpu_before = sum(_cpu_seconds(pid) for pid in workers)
        started = time.perf_counter()
        size, status, error = 0, 0, ""
        try:
            with http.post(base + "/staff/exports/messages", data={"csrf_token": token},
                           stream=True, timeout=(10, 600)) as response:
                status = response.status_code
                for chunk in response.iter_content(1 << 16):
                    size += len(chunk)
        except requests.RequestException as exc:
            error = f" ({type(exc).__name__}: connection cut after {size / 1e6:.0f} MB)"
        seconds = time.perf_counter() - started
        alive = [pid for pid in child_pids(proc.pid) if pid in workers]
        cpu = sum(_cpu_seconds(pid) for pid in alive) - cpu_before
        peaks = [peak_rss_mb(pid) for pid in alive] or [float("nan")]
    print(f"   web export   {seconds:6.1f} s wall {cpu:6.1f} s CPU {max(peaks):6.0f} MiB   HTTP "
          f"{status}, {size / 1e6:.0f} MB{error} (workers' CPU and peak RSS; gunicorn gthread "
          f"--timeout 30)")


def main() -> None:
    """Build or reuse the databases, then time the exports on each backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--no-web", action="store_true", help="skip the web export")
    parser.add_argument("--peerline", default=str(VENV_BIN / "peerline"))
    args = parser.parse_args()
    print(f"export messages, {args.rows:,} rows; {machine_note()}")
    for backend in ("sqlite", "postgres"):
        if args.backend not in (backend, "both"):
            continue
        if backend == "postgres" and not postgres_available():
            print("postgres: skipped, no server at PEERLINE_BENCH_POSTGRES_URL")
            continue
        print(backend)
        with tempfile.TemporaryDirectory(prefix="peerline-bench-") as folder:
            url = sqlite_copy(args.rows, folder) if backend == "sqlite" \
                else postgres_copy(args.rows)
            try:
                cli(backend, url, folder, args.peerline)
                if not args.no_web:
                    web(url, folder)
            finally:
                if backend == "postgres":
                    drop_postgres(url)


if __name__ == "__main__":
    main()
