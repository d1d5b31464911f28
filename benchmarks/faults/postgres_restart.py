"""Fault: restart PostgreSQL under webhook load; the app must recover without a restart.

Run (needs root for pg_ctlcluster, as in CI): .venv/bin/python benchmarks/faults/postgres_restart.py

gunicorn (2 gthread workers x 4 threads) serves bot:create_app() on a
dedicated PostgreSQL database; 8 client threads post unique texts for 30 s.
At 8 s the script runs `pg_ctlcluster 15 main restart`. Pass: after the
server is back, requests succeed again within 10 s, the last 10 s see no
errors, the gunicorn workers are the same processes (nothing restarted), and
every request answered 200 has its message stored: texts that arrived while
the server was down were spooled (bot/inbound/spool.py) and replayed once it was back,
so none is left in the spool.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from support import ROOT, fresh_postgres, migrate, postgres_available, seed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import child_pids, gunicorn, phone_for, write_config  # noqa: E402

DURATION = 30.0
RESTART_AT = 8.0
FLAGS = ("--worker-class", "gthread", "--threads", "4", "--error-logfile", "-",
         "--log-level", "warning")


def main() -> None:
    """Load, restart PostgreSQL, and report how the app came through."""
    if not postgres_available():
        print("skipped: no PostgreSQL at PEERLINE_BENCH_POSTGRES_URL")
        return
    from sqlalchemy import create_engine, func, select

    from bot.models import Message

    with tempfile.TemporaryDirectory(prefix="peerline-fault-") as folder:
        url = fresh_postgres("peerline_fault_pgrestart")
        migrate(url)
        seed(url, 1000)
        config = write_config(folder, url, flows={"dir": str(ROOT / "flows")})
        results: list[tuple[float, int, str]] = []
        lock = threading.Lock()
        started = time.monotonic()
        with gunicorn("bot:create_app()", flags=FLAGS, env={"PEERLINE_CONFIG": str(config)},
                      cwd=folder) as (base, proc):
            workers_before = sorted(child_pids(proc.pid))

            def client(n: int) -> None:
                i = 0
                while time.monotonic() - started < DURATION:
                    i += 1
                    sid = f"SMpg{n:02d}x{i:07d}"
                    form = {"MessageSid": sid, "From": phone_for((n * 7919 + i) % 1000),
                            "To": "+12025550100", "Body": "hello", "NumMedia": "0"}
                    request = urllib.request.Request(
                        base + "/sms/inbound", data=urllib.parse.urlencode(form).encode())
                    try:
                        with urllib.request.urlopen(request, timeout=15) as response:
                            status = response.status
                    except urllib.error.HTTPError as exc:
                        status = exc.code
                    except OSError:
                        status = 0
                    with lock:
                        results.append((time.monotonic() - started, status, sid))
                    if status != 200:
                        time.sleep(0.05)

            threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
            for thread in threads:
                thread.start()
            time.sleep(RESTART_AT)
            restart = subprocess.run(["pg_ctlcluster", "15", "main", "restart"],
                                     capture_output=True, text=True, timeout=120)
            back_at = time.monotonic() - started
            for thread in threads:
                thread.join()
            workers_after = sorted(child_pids(proc.pid))
        spool_left = len(list((Path(folder) / "var" / "spool").glob("*.json")))
        engine = create_engine(url)
        with engine.connect() as conn:
            stored = set(conn.scalars(select(Message.sid).where(Message.direction == "in")))
            count = conn.scalar(select(func.count()).where(Message.direction == "in"))
        engine.dispose()
    if restart.returncode != 0:
        print(f"could not restart PostgreSQL: {restart.stderr.strip()}")
        sys.exit(1)
    errors = [(t, s) for t, s, _ in results if s != 200]
    first_ok_after = min((t for t, s, _ in results if s == 200 and t > back_at), default=None)
    late_errors = [e for e in errors if e[0] > DURATION - 10]
    ok_unstored = [sid for _, s, sid in results if s == 200 and sid not in stored]
    recovery = None if first_ok_after is None else first_ok_after - back_at
    print(f"{len(results)} requests; restart issued at {RESTART_AT:.0f} s, server back at "
          f"{back_at:.1f} s; {len(errors)} failed (statuses {sorted({s for _, s in errors})}) "
          f"between {min((t for t, _ in errors), default=0):.1f} s and "
          f"{max((t for t, _ in errors), default=0):.1f} s")
    print(f"first success after the restart: +{recovery if recovery is not None else -1:.2f} s;"
          f" errors in the last 10 s: {len(late_errors)}; workers unchanged: "
          f"{workers_before == workers_after}; answered 200 but not stored: {len(ok_unstored)}; "
          f"inbound rows {count}; left in the spool: {spool_left}")
    ok = (recovery is not None and recovery < 10 and not late_errors
          and workers_before == workers_after and not ok_unstored and not spool_left)
    print("PASS: recovered without restarting the app" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
