"""Build issue 15's large program for benchmarks/dashboard.py, with bulk inserts; cache it.

Rules:
- The rows: benchmarks/dashboard_builder.py (what they are, at size 1 and scaled by
  `size`); the bulk writes: benchmarks/dashboard_writer.py.
- The schema is the checkout's own (its migrations). The built database is kept
  (an SQLite file, a PostgreSQL template database) keyed by size, seed and
  BUILDER_VERSION; a run works on a copy, migrated to the checkout's head and
  analyzed when its revision differs from the cached one.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dashboard_builder import BUILDER_VERSION, Builder
from dashboard_writer import Writer
from harness import PG_ADMIN, migrate
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

CACHE = Path(os.environ.get("PEERLINE_BENCH_CACHE",
                            Path(tempfile.gettempdir()) / "peerline-bench-cache"))


@dataclass
class Program:
    """What was built: the counts, and the ids the benchmark visits."""

    size: float
    seed: int
    key: str
    counts: dict[str, int] = field(default_factory=dict)
    staff: str = "staff"
    big_coach: str = "coach300"
    small_coach: str = "coach30"
    big_veterans: int = 0
    small_veterans: int = 0
    veteran_id: int = 0  # one of the small coach's veterans, a year of history
    escalation_id: int = 0  # an open alert about that veteran
    revision: str = ""


def cache_key(size: float, seed: int) -> str:
    """Return the cache key of a build."""
    return f"s{size:g}-seed{seed}-v{BUILDER_VERSION}".replace(".", "_")


def head_revision(url: str) -> str:
    """Return the schema revision the database at `url` is at."""
    engine = create_engine(url)
    with engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    return str(revision)


def analyze(url: str) -> None:
    """Run ANALYZE (PostgreSQL: VACUUM ANALYZE, as autovacuum would) on the database."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE" if url.startswith("postgresql") else "ANALYZE"))
    engine.dispose()


def build(url: str, size: float, seed: int, say: Callable[[str], None] = print) -> Program:
    """Migrate `url` and fill it with the program; return what was built."""
    started = time.perf_counter()
    migrate(url)
    writer = Writer(url)
    builder = Builder(writer, size, seed)
    ids = builder.build()
    took = time.perf_counter() - started
    analyze(url)
    program = Program(size=size, seed=seed, key=cache_key(size, seed),
                      big_veterans=ids["big"], small_veterans=ids["small"],
                      veteran_id=ids["veteran"], escalation_id=ids["escalation"],
                      revision=head_revision(url))
    program.counts = _counts(url)
    say(f"  built in {took:.0f} s (+ ANALYZE {time.perf_counter() - started - took:.0f} s): "
        + ", ".join(f"{k} {v:,}" for k, v in program.counts.items()))
    return program


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    found = {}
    with engine.connect() as conn:
        for label, sql in (
                ("coaches", "SELECT count(*) FROM coaches WHERE role = 'coach'"),
                ("veterans", "SELECT count(*) FROM participants"),
                ("messages", "SELECT count(*) FROM messages"),
                ("peg_answers", "SELECT count(*) FROM checkin_answers WHERE variable IN "
                                "('pain', 'enjoyment', 'activity')"),
                ("escalations", "SELECT count(*) FROM escalations"),
                ("open_escalations", "SELECT count(*) FROM escalations "
                                     "WHERE resolved_at IS NULL"),
                ("drafts", "SELECT count(*) FROM nudges"),
                ("pending_drafts", "SELECT count(*) FROM nudges WHERE status = 'pending'"),
                ("audit", "SELECT count(*) FROM audit_log"),
                ("inbox_items", "SELECT count(*) FROM inbox_items"),
                ("failed_sends", "SELECT count(*) FROM outbox WHERE state = 'failed'")):
            found[label] = int(conn.execute(text(sql)).scalar() or 0)
    engine.dispose()
    return found


def sqlite_program(folder: Path, size: float, seed: int, rebuild: bool = False,
                   say: Callable[[str], None] = print) -> tuple[str, Program]:
    """Return (URL of a fresh working copy, Program): from the cache, or built and cached."""
    key = cache_key(size, seed)
    CACHE.mkdir(parents=True, exist_ok=True)
    cached, meta = CACHE / f"dashboard-{key}.db", CACHE / f"dashboard-{key}.sqlite.json"
    if rebuild or not (cached.exists() and meta.exists()):
        say(f"  building the SQLite program (size {size:g}, seed {seed}) into {cached}")
        scratch = CACHE / f"building-{key}-{os.getpid()}.db"
        program = build(f"sqlite:///{scratch}", size, seed, say)
        with sqlite3.connect(scratch) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        os.replace(scratch, cached)
        meta.write_text(json.dumps(asdict(program)))
    program = Program(**json.loads(meta.read_text()))
    work = folder / "dashboard.db"
    shutil.copyfile(cached, work)
    url = f"sqlite:///{work}"
    _bring_to_head(url, program, say)
    return url, program


def _bring_to_head(url: str, program: Program, say: Callable[[str], None]) -> None:
    migrate(url)
    revision = head_revision(url)
    if revision != program.revision:
        say(f"  migrated the copy {program.revision} -> {revision}; analyzing")
        analyze(url)
        program.revision = revision


def _admin() -> Any:
    return create_engine(make_url(PG_ADMIN), isolation_level="AUTOCOMMIT")


def postgres_program(size: float, seed: int, rebuild: bool = False,
                     say: Callable[[str], None] = print) -> tuple[str, Program, Callable[[], None]]:
    """Return (URL of a fresh copy of the cached template, Program, drop the copy)."""
    key = cache_key(size, seed)
    template, meta = f"peerline_dashtpl_{key}", CACHE / f"dashboard-{key}.postgres.json"
    admin_url = make_url(PG_ADMIN)
    admin = _admin()
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": template}).scalar()
        if rebuild or not exists or not meta.exists():
            scratch = f"peerline_dashbuild_{os.getpid()}"
            say(f"  building the PostgreSQL program (size {size:g}, seed {seed}) "
                f"as template {template}")
            conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{scratch}"'))
            program = build(admin_url.set(database=scratch).render_as_string(False), size, seed,
                            say)
            conn.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
            conn.execute(text(f'ALTER DATABASE "{scratch}" RENAME TO "{template}"'))
            CACHE.mkdir(parents=True, exist_ok=True)
            meta.write_text(json.dumps(asdict(program)))
        work = f"peerline_bench_dash_{os.getpid()}"
        conn.execute(text(f'DROP DATABASE IF EXISTS "{work}" WITH (FORCE)'))
        started = time.perf_counter()
        conn.execute(text(f'CREATE DATABASE "{work}" TEMPLATE "{template}"'))
        say(f"  copied the template in {time.perf_counter() - started:.0f} s")
    admin.dispose()
    program = Program(**json.loads(meta.read_text()))
    url = admin_url.set(database=work).render_as_string(False)
    _bring_to_head(url, program, say)

    def drop() -> None:
        engine = _admin()
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{work}" WITH (FORCE)'))
        engine.dispose()

    return url, program, drop
