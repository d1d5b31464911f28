"""How long SQLite writers wait for the write lock: PeerLine's polled BEGIN against SQLite's own.

Run: .venv/bin/python benchmarks/sqlite_lock.py [--writers 2] [--transactions 300]

Each writer process loops: 1 ms of CPU outside the lock (a request's Flask
work), BEGIN IMMEDIATE, one INSERT, 2 ms of CPU holding the lock (a text's
processing), COMMIT. The baseline is SQLite's own busy handler (busy_timeout,
as every engine but the webhook's still has); the figure is the webhook's
engine (bot/core/db.make_webhook_engine), whose writers poll for the lock.
Printed: the wait for BEGIN IMMEDIATE (p50, p99, max) and the elapsed time,
beside the ideal (the lock busy all the time). Run it twice: the order of the
two is alternated, and a shared machine moves both.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import tempfile
import time
from multiprocessing.queues import Queue
from typing import Any

from harness import machine_note
from sqlalchemy import text

from bot.core.db import make_webhook_engine

HOLD_MS, OUTSIDE_MS = 2.0, 1.0


def _spin(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


def _writer(mode: str, path: str, count: int, results: Queue[Any]) -> None:
    """Run `count` write transactions; put (elapsed, lock waits) on `results`."""
    waits: list[float] = []
    started = time.perf_counter()
    if mode == "sqlite":
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for index in range(count):
            _spin(OUTSIDE_MS)
            before = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            waits.append(time.perf_counter() - before)
            conn.execute("INSERT INTO t (a) VALUES (?)", (index,))
            _spin(HOLD_MS)
            conn.execute("COMMIT")
    else:
        engine = make_webhook_engine(f"sqlite:///{path}")
        for index in range(count):
            _spin(OUTSIDE_MS)
            before = time.perf_counter()
            with engine.begin() as sa_conn:
                waits.append(time.perf_counter() - before)
                sa_conn.execute(text("INSERT INTO t (a) VALUES (:a)"), {"a": index})
                _spin(HOLD_MS)
        engine.dispose()
    results.put((time.perf_counter() - started, waits))


def run(mode: str, writers: int, count: int) -> str:
    """Run `writers` processes of `count` transactions; return the printed row."""
    with tempfile.TemporaryDirectory(prefix="peerline-lock-") as folder:
        path = os.path.join(folder, "lock.db")
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (a INTEGER)")
        conn.close()
        results: Queue[Any] = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=_writer, args=(mode, path, count, results))
                 for _ in range(writers)]
        for proc in procs:
            proc.start()
        done = [results.get() for _ in procs]
        for proc in procs:
            proc.join()
    waits = sorted(wait for _, ws in done for wait in ws)
    elapsed = max(seconds for seconds, _ in done)

    def pct(share: float) -> float:
        return waits[min(len(waits) - 1, int(len(waits) * share))] * 1000

    return (f"  {mode:<28}{pct(0.5):>8.2f}{pct(0.99):>8.2f}{waits[-1] * 1000:>9.1f}"
            f"{elapsed:>10.2f}")


def main() -> None:
    """Print the lock waits of both kinds of writer, alternated, twice."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--transactions", type=int, default=300)
    args = parser.parse_args()
    ideal = args.writers * args.transactions * HOLD_MS / 1000
    print(f"SQLite write-lock waits, {args.writers} writers x {args.transactions} transactions "
          f"(hold {HOLD_MS} ms, {OUTSIDE_MS} ms outside); {machine_note()}")
    print(f"  {'writer':<28}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>9}{'elapsed s':>10}"
          f"   (ideal elapsed >= {ideal:.2f} s)")
    names = {"sqlite": "baseline: SQLite busy handler", "peerline": "PeerLine polled BEGIN"}
    for mode in ("sqlite", "peerline", "peerline", "sqlite"):
        print(run(mode, args.writers, args.transactions).replace(f"  {mode:<28}",
                                                                  f"  {names[mode]:<28}"))


if __name__ == "__main__":
    main()
