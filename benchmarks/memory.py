"""Peak RSS of a web worker and of the scheduler with 100,000 participants.

Run: .venv/bin/python benchmarks/memory.py [--backend sqlite|postgres]

- Web: gunicorn -w 2 serving bot:create_app() takes 5 s of wrk load
  (inbound texts from the 100,000 participants); each worker's VmHWM (peak
  resident set) is read from /proc. Baseline: the bare Flask app, same flags.
- Scheduler: a fresh process builds PeerLine's services and runs every job
  (`run_all`, what `peerline tick` and the scheduler's jobs run) once with
  nothing due and once with 10,000 check-ins due; its VmHWM is printed.
  Baseline: a process that imports the same libraries and opens the database.
  The web load leaves coach inbox notices due now (a free text notifies the
  coach); the tick's outbox job sends them through the console transport. At
  the default [twilio] max_messages_per_second of 1 that took one second per
  notice (hundreds of seconds: the run looked hung), so this process sends at
  SCHEDULER_RATE a second; how many it sent is printed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import (
    ROOT,
    child_pids,
    fresh_postgres,
    gunicorn,
    machine_note,
    migrate,
    peak_rss_mb,
    postgres_available,
    run_wrk,
    seed,
    sqlite_url,
    write_config,
)

LUA = Path(__file__).with_name("inbound.lua")
FLAGS = ("--worker-class", "sync", "--error-logfile", "-", "--log-level", "warning")
SCHEDULER_RATE = 1000.0  # sends a second in the scheduler process (console transport)
SCHEDULER = """
import sys
sys.path.insert(0, {bench!r})
from scheduler_pass import DUE, IDLE, services_for
services = services_for({url!r}, twilio__max_messages_per_second={rate!r})
if {run_jobs}:
    from scheduler.jobs import run_all
    for now in (IDLE, DUE):
        print("outbox:", dict(run_all(services, now))["outbox"])
else:
    with services.db.session() as session:
        session.execute(__import__("sqlalchemy").text("SELECT 1"))
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) / 1024)
"""


def web_peaks(app_spec: str, folder: str, env: dict[str, str], participants: int,
              extra: tuple[str, ...] = ()) -> list[float]:
    """Load gunicorn for 5 s and return each worker's peak RSS in MiB."""
    with gunicorn(app_spec, flags=FLAGS + extra, env=env, cwd=folder) as (base, proc):
        run_wrk(base + "/sms/inbound", connections=16, seconds=5, script=LUA,
                args=("mem", str(participants), "about a 7"))
        return [peak_rss_mb(pid) for pid in child_pids(proc.pid)]


def scheduler_peak(url: str, run_jobs: bool) -> tuple[float, list[str]]:
    """Run the scheduler's jobs (or only open the database) in a fresh process.

    Return its peak RSS in MiB and the outbox job's summaries.
    """
    code = SCHEDULER.format(bench=str(ROOT / "benchmarks"), url=url, run_jobs=run_jobs,
                            rate=SCHEDULER_RATE)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(ROOT), timeout=600, check=True).stdout
    lines = out.strip().splitlines()
    return float(lines[-1]), [line for line in lines if line.startswith("outbox:")]


def main() -> None:
    """Seed 100,000 participants, then measure the web workers and the scheduler."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    print(f"memory (peak RSS, VmHWM), {args.participants:,} participants, {args.backend}; "
          f"{machine_note()}")
    if args.backend == "postgres" and not postgres_available():
        print("postgres: skipped, no server at PEERLINE_BENCH_POSTGRES_URL")
        return
    from scheduler_pass import ZONES

    with tempfile.TemporaryDirectory(prefix="peerline-bench-") as folder:
        url = (fresh_postgres("peerline_bench_memory") if args.backend == "postgres"
               else sqlite_url(folder, "memory.db"))
        migrate(url)
        seed(url, args.participants, timezones=ZONES)
        config = write_config(folder, url, flows={"dir": str(ROOT / "flows")})
        bare = web_peaks("bare_app:create_app()", folder, {}, args.participants,
                         ("--pythonpath", str(ROOT / "benchmarks")))
        app = web_peaks("bot:create_app()", folder, {"PEERLINE_CONFIG": str(config)},
                        args.participants)
        print(f"   web worker   PeerLine {max(app):6.1f} MiB   bare Flask {max(bare):6.1f} MiB"
              f"   (per worker: {', '.join(f'{m:.1f}' for m in app)})")
        base, _ = scheduler_peak(url, run_jobs=False)
        jobs, sent = scheduler_peak(url, run_jobs=True)
        print(f"   scheduler    PeerLine {jobs:6.1f} MiB   baseline (imports + database) "
              f"{base:6.1f} MiB   (every job idle, then {args.participants // 10:,} check-ins "
              f"due; {' / '.join(sent)})")


if __name__ == "__main__":
    main()
