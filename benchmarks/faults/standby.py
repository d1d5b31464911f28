"""Fault: two schedulers; kill -9 the active one; the standby must take over within a minute.

Run: .venv/bin/python benchmarks/faults/standby.py

PostgreSQL when it answers (advisory lock), else SQLite (file lock). Two
`peerline scheduler` processes start on one database (scheduler interval
2 s); the holder named in scheduler_state is the active one. It gets
SIGKILL; the script polls scheduler_state until the other process records a
pass, and checks that only one holder ever wrote while both were alive.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from support import config_from_overrides, database_for, kill9, scheduler_process, wait_until


def main() -> None:
    """Start two schedulers, kill the active one, time the takeover."""
    from sqlalchemy import create_engine, select

    from bot.models import SchedulerState

    with tempfile.TemporaryDirectory(prefix="peerline-fault-") as folder:
        url = database_for("peerline_fault_standby", folder)
        config = config_from_overrides(folder, url, {"scheduler__interval_seconds": 2})
        engine = create_engine(url)

        def state() -> tuple[str, object] | None:
            with engine.connect() as conn:
                row = conn.execute(select(SchedulerState.holder, SchedulerState.last_pass_at)
                                   .where(SchedulerState.name == "scheduler")).first()
            return (str(row[0]), row[1]) if row and row[0] else None

        log = Path(folder) / "schedulers.log"
        with scheduler_process(config, log) as one, scheduler_process(config, log) as two:
            first = wait_until(state, timeout=60)
            holders = set()
            watch_until = time.monotonic() + 15  # both alive: only one may act
            while time.monotonic() < watch_until:
                holders.add(state()[0])  # type: ignore[index]
                time.sleep(0.5)
            active, standby = (one, two) if first[0].endswith(f":{one.pid}") else (two, one)
            kill9(active)
            killed = time.monotonic()
            taken = wait_until(lambda: (s := state()) and s[0].endswith(f":{standby.pid}"),
                               timeout=120, every=0.5)
            takeover = time.monotonic() - killed
        engine.dispose()
        print(f"backend {url.split(':')[0]}; while both ran, holders seen: {sorted(holders)}")
        print(f"killed the active scheduler (pid {active.pid}); standby pid {standby.pid} "
              f"recorded a pass {takeover:.1f} s later" if taken else "standby never took over")
        ok = bool(taken) and takeover < 60 and len(holders) == 1
        print("PASS: one active at a time, takeover within a minute" if ok else "FAIL")
        if not ok:
            print(log.read_text()[-3000:])
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
