"""Fault: kill -9 the scheduler while it sends 1,000 messages; restart; count losses and repeats.

Run: .venv/bin/python benchmarks/faults/scheduler_kill.py

PostgreSQL when it answers (else SQLite). 1,000 messages are queued; `peerline
scheduler` sends them to the fake Twilio (200 ms latency, 50/s, 8 in flight,
lease 5 s). After about 300 have reached the fake the process group gets
SIGKILL; a new scheduler is started and runs until every row is sent.
Pass: every message reached the fake at least once (none lost), and the
repeats are no more than the sends in flight at the kill (max_in_flight).
"""

from __future__ import annotations

import collections
import sys
import tempfile
import time
from pathlib import Path

from support import config_from_overrides, database_for, kill9, scheduler_process, seed, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sender_rate import queue  # noqa: E402

MESSAGES = 1000
IN_FLIGHT = 8


def main() -> None:
    """Queue, send, kill, restart, and report."""
    from sqlalchemy import create_engine, func, select

    from bot.models import Outbox
    from tests.fake_twilio import FakeTwilio

    with tempfile.TemporaryDirectory(prefix="peerline-fault-") as folder, \
            FakeTwilio(latency=0.2) as fake:
        url = database_for("peerline_fault_kill", folder)
        seed(url, 1000)
        queue(url, MESSAGES, 1000)
        config = config_from_overrides(folder, url, {
            **fake.config_overrides(), "twilio__max_messages_per_second": 50,
            "twilio__max_in_flight": IN_FLIGHT, "scheduler__lease_seconds": 5,
            "scheduler__interval_seconds": 2})
        engine = create_engine(url)

        def unsent() -> int:
            with engine.connect() as conn:
                return int(conn.scalar(select(func.count()).where(Outbox.state != "sent")) or 0)

        log = Path(folder) / "scheduler.log"
        with scheduler_process(config, log) as first:
            wait_until(lambda: len(fake.requests) >= 300, timeout=120)
            at_kill = len(fake.requests)
            kill9(first)
        killed_at = time.monotonic()
        with engine.connect() as conn:
            claimed = conn.scalar(select(func.count()).where(Outbox.state == "claimed"))
        with scheduler_process(config, log):
            wait_until(lambda: unsent() == 0, timeout=180)
            left = unsent()
        recovered = time.monotonic() - killed_at
        seen = collections.Counter((r.to, r.body) for r in fake.requests)
        repeats = sum(count - 1 for count in seen.values())
        engine.dispose()
        print(f"backend {url.split(':')[0]}; killed after {at_kill} requests reached the fake;"
              f" {claimed} rows were claimed (a batch; up to {IN_FLIGHT} of them in flight)")
        print(f"after restart: {len(seen)} of {MESSAGES} distinct messages reached the fake "
              f"(lost: {MESSAGES - len(seen)}), {repeats} repeated, unsent rows: {left}; "
              f"all sent {recovered:.1f} s after the kill (lease 5 s)")
        ok = len(seen) == MESSAGES and repeats <= IN_FLIGHT and left == 0
        print(f"PASS: none lost, repeats <= {IN_FLIGHT} in flight" if ok else "FAIL")
        if not ok:
            print(log.read_text()[-3000:])
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
