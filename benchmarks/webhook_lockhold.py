"""How long a text holds SQLite's write lock, beside the whole text, in-process; before and after.

Run: .venv/bin/python benchmarks/webhook_lockhold.py [--texts 3000] [--size 1000]
         [--workers 1] [--rounds 1]

The real app (create_app, signatures off) behind Flask's test client, SQLite,
issue 15's mix (benchmarks/webhook_mix.py, the same seed), each run on its own
copy of one seeded database and in processes of its own. Wrappers time, per
text, every hold of the write lock: from the moment `BEGIN IMMEDIATE` returns
(bot/core/db._begin_immediate) to the moment its COMMIT or ROLLBACK returns,
the store's and the processing's apart; beside them phase A (the processing
done outside the lock, bot/inbound/lockhold.py), handle_inbound and the whole
request. The baseline, in the same run and alternated with it, is the same
code with every text processed under the lock (lockhold.may_skip_lock off), as
before. With gunicorn's workers on one lock, saturation is at most
1 / (hold per text), and at 200/s a 3.9 ms hold keeps the lock 78 % busy.

With `--workers N` the texts are dealt round-robin to N processes started
together on the same database (two cores, one lock): texts/s and the lock
waits then show what the hold costs; on a shared machine they move with the
load average, which every run prints. `--rate R` offers R texts/s in all, open
loop (each process posts its share at its due time, and the time from due to
answer is what the p99 counts), like benchmarks/paced.py over HTTP.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import statistics
import tempfile
import threading
import time
import urllib.parse
from multiprocessing.queues import Queue
from typing import Any

from harness import ROOT, machine_note, migrate, sqlite_url, write_config
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from webhook_mix import MIX, mix, seed_program

import bot.core.db as db_module
import bot.inbound.pipeline as pipeline
import bot.web.webhook as webhook
from bot import create_app
from bot.inbound import lockhold

_state = threading.local()


class Probe:
    """Per-text lock holds (store, processing) and whole-text times, from wrappers."""

    def __init__(self) -> None:
        self.texts: list[dict[str, float]] = []
        self.current: dict[str, float] = {}

    def install(self) -> None:
        """Wrap BEGIN IMMEDIATE, COMMIT/ROLLBACK, handle_inbound and the processing step."""
        begin, commit, rollback = (db_module._begin_immediate, SQLiteDialect_pysqlite.do_commit,
                                   SQLiteDialect_pysqlite.do_rollback)
        handle = pipeline.handle_inbound
        probe = self

        def timed_begin(conn: Any, busy_timeout_ms: int) -> None:
            before = time.perf_counter()
            begin(conn, busy_timeout_ms)
            _state.held = time.perf_counter()
            probe.current["wait"] = probe.current.get("wait", 0.0) + _state.held - before

        def released(kind: str) -> None:
            held = getattr(_state, "held", None)
            if held is None:
                return
            _state.held = None
            where = getattr(_state, "where", "store")
            key = f"{where}_{kind}"
            probe.current[key] = probe.current.get(key, 0.0) + time.perf_counter() - held
            probe.current["holds"] = probe.current.get("holds", 0.0) + 1

        def timed_commit(self: Any, dbapi_connection: Any) -> None:
            commit(self, dbapi_connection)
            released("commit")

        def timed_rollback(self: Any, dbapi_connection: Any) -> None:
            rollback(self, dbapi_connection)
            released("rollback")

        def timed_handle(*args: Any, **kwargs: Any) -> Any:
            _state.where = "store"
            started = time.perf_counter()
            try:
                return handle(*args, **kwargs)
            finally:
                probe.current["handle"] = time.perf_counter() - started
                _state.where = "store"

        for name in ("_process", "_process_locked"):
            setattr(pipeline, name, _marking(getattr(pipeline, name)))
        unlocked, unchanged, plan = (pipeline.process_unlocked, lockhold.reads_unchanged,
                                     lockhold._plan)

        def counted(*args: Any, **kwargs: Any) -> Any:  # kept by phase A, or given back
            twiml = unlocked(*args, **kwargs)
            probe.current["unlocked" if twiml is not None else "given_back"] = 1
            return twiml

        def checked(connection: Any, reads: Any) -> bool:
            same = unchanged(connection, reads)
            probe.current["reads"], probe.current["changed"] = len(reads), 0 if same else 1
            return same

        def planned(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return plan(*args, **kwargs)
            finally:
                probe.current["outside"] = time.perf_counter() - started

        pipeline.process_unlocked = counted
        lockhold.reads_unchanged = checked
        lockhold._plan = planned
        db_module._begin_immediate = timed_begin
        SQLiteDialect_pysqlite.do_commit = timed_commit
        SQLiteDialect_pysqlite.do_rollback = timed_rollback
        pipeline.handle_inbound = timed_handle
        webhook.handle_inbound = timed_handle  # the view imported the pipeline's name


def _marking(function: Any) -> Any:
    def marked(*args: Any, **kwargs: Any) -> Any:
        _state.where = "process"
        return function(*args, **kwargs)
    return marked


def _post_all(config: str, forms: list[dict[str, str]], locked: bool,
              results: Queue[Any] | None = None, start: Any = None,
              every: float = 0.0) -> tuple[float, list[dict[str, float]]]:
    os.environ["PEERLINE_CONFIG"] = config
    probe = Probe()
    probe.install()
    if locked:  # the baseline: every text processed under the lock, as before
        pipeline.may_skip_lock = lambda *args: False
    app = create_app()
    client = app.test_client()
    if start is not None:
        start.wait()
    began = time.perf_counter()
    for index, form in enumerate(forms):
        probe.current = {}
        due = began + index * every  # open loop when paced: a late text waits in the count
        if every:
            time.sleep(max(0.0, due - time.perf_counter()))
        before = time.perf_counter()
        response = client.post("/sms/inbound", data=form)
        assert response.status_code == 200, response.status_code
        probe.current["request"] = time.perf_counter() - before
        if every:
            probe.current["late"] = time.perf_counter() - due
        probe.texts.append(probe.current)
    elapsed = time.perf_counter() - began
    app.extensions["peerline"].db.dispose()
    if results is not None:
        results.put((elapsed, probe.texts))
    return elapsed, probe.texts


def _pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000


def report(texts: list[dict[str, float]], kinds: list[str]) -> None:
    """Print the per-text holds and times, in all and by kind of text."""
    def column(name: str, rows: list[dict[str, float]]) -> list[float]:
        return [sum(v for k, v in row.items() if k.startswith(name)) for row in rows]

    print(f"   {'per text, ms':<34}{'mean':>7}{'p50':>7}{'p90':>7}{'p99':>7}")
    rows = [("due time to answer (paced)", "late")] if "late" in texts[0] else []
    for label, name in (*rows, ("whole request (test client)", "request"),
                        ("handle_inbound", "handle"),
                        ("write lock held, store", "store_"),
                        ("write lock held, processing", "process_"),
                        ("phase A, outside the lock", "outside"),
                        ("wait for the lock", "wait")):
        values = column(name, texts)
        print(f"   {label:<34}{statistics.fmean(values) * 1000:>7.2f}{_pct(values, .5):>7.2f}"
              f"{_pct(values, .9):>7.2f}{_pct(values, .99):>7.2f}")
    for label, name in (("processed outside the lock", "unlocked"),
                        ("given back to the locked path", "given_back"),
                        ("  of which a read had changed", "changed")):
        print(f"   {label:<34}{sum(row.get(name, 0) for row in texts):>7.0f} texts")
    logged = [row["reads"] for row in texts if "reads" in row]
    if logged:
        print(f"   {'reads checked again under the lock':<34}{statistics.fmean(logged):>7.2f}"
              " a text")
    held = [a + b for a, b in zip(column("store_", texts), column("process_", texts),
                                  strict=True)]
    total = statistics.fmean(held)
    print(f"   write lock held in all: {total * 1000:.2f} ms a text "
          f"({total / statistics.fmean(column('request', texts)):.0%} of the request, "
          f"{total / statistics.fmean(column('handle', texts)):.0%} of handle_inbound); "
          f"1 / hold = {1 / total:,.0f} texts/s at most through the lock")
    print(f"   {'by kind: processing hold / handle_inbound, mean ms':<52}")
    for kind in MIX:
        rows = [row for row, k in zip(texts, kinds, strict=True) if k == kind]
        if rows:
            print(f"     {kind:<10}{statistics.fmean(column('process_', rows)) * 1000:>7.2f}"
                  f"{statistics.fmean(column('handle', rows)) * 1000:>8.2f}   ({len(rows)})")


def run(folder: str, seeded: str, forms: list[dict[str, str]], locked: bool, workers: int,
        kinds: list[str], rate: float = 0.0) -> None:
    """Copy the seeded database, post the forms with `workers` processes, print the holds."""
    name = "locked" if locked else "unlocked"
    target = os.path.join(folder, f"{name}.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(target + suffix):
            os.remove(target + suffix)
    with sqlite3.connect(seeded) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    run_folder = os.path.join(folder, name)
    os.makedirs(run_folder, exist_ok=True)
    config = str(write_config(run_folder, sqlite_url(folder, f"{name}.db"),
                              flows={"dir": str(ROOT / "flows")},
                              database={"spool_dir": os.path.join(run_folder, "spool")}))
    context = multiprocessing.get_context("spawn")  # each run patches a process of its own
    results: Queue[Any] = context.Queue()
    start = context.Event()
    every = workers / rate if rate else 0.0
    procs = [context.Process(target=_post_all,
                             args=(config, forms[i::workers], locked, results, start, every))
             for i in range(workers)]
    for proc in procs:
        proc.start()
    time.sleep(8)  # every app built before the clock starts
    start.set()
    done = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = max(seconds for seconds, _ in done)
    texts = [row for _, rows in done for row in rows]
    if workers > 1:
        kinds = ["?"] * len(texts)  # the merged rows are no longer in the forms' order
    label = "baseline: all under the lock" if locked else "phase A outside the lock"
    print(f"\n== {label}: {len(forms):,} texts, {workers} process(es): "
          f"{len(forms) / elapsed:,.0f} texts/s ({elapsed:.2f} s); {machine_note()}")
    report(texts, kinds)


def main() -> None:
    """Seed once; run the baseline and the change on copies, alternated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=3000)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="baseline/change pairs")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="texts/s offered in all, open loop (0: as fast as they go)")
    args = parser.parse_args()
    print(f"write-lock hold per text, in-process, SQLite, the mix; {machine_note()}")
    with tempfile.TemporaryDirectory(prefix="peerline-lockhold-") as folder:
        url = sqlite_url(folder, "seed.db")
        migrate(url)
        pool = max(10, args.texts * MIX["checkin"] // 100 // 3 + 1)
        program = seed_program(url, args.size, pool)
        with sqlite3.connect(os.path.join(folder, "seed.db")) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        kinds, forms = [], []
        for index, (kind, line) in enumerate(mix(program, args.texts)):
            form = dict(urllib.parse.parse_qsl(line))
            form.update(MessageSid=f"SMhold{index:08d}", To="+12025550100", NumMedia="0")
            kinds.append(kind)
            forms.append(form)
        for round_ in range(args.rounds):
            order = (True, False) if round_ % 2 == 0 else (False, True)
            for locked in order:
                run(folder, os.path.join(folder, "seed.db"), forms, locked, args.workers, kinds,
                    args.rate)


if __name__ == "__main__":
    main()
