"""The schema: migrations run on SQLite and PostgreSQL and match the models exactly."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import nullcontext

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from bot.core.db import (
    BUSY_TIMEOUT_MS,
    READING,
    Database,
    alembic_config,
    make_engine,
    upgrade,
)
from bot.models import Base, Message


def test_there_is_one_migration_head():
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, f"several Alembic heads, merge them: {heads}"


def test_upgrade_reaches_head_with_every_model_table(any_db_url):
    head = ScriptDirectory.from_config(alembic_config(any_db_url)).get_current_head()
    engine = make_engine(any_db_url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert set(Base.metadata.tables) <= tables


def test_models_and_migrations_do_not_differ(any_db_url):
    """Alembic autogenerate finds nothing to add: a model change came with its migration."""
    engine = make_engine(any_db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], "models and migrations differ:\n" + "\n".join(map(str, diff))


def test_upgrade_twice_is_harmless(any_db_url):
    upgrade(any_db_url)
    upgrade(any_db_url)


def test_fresh_sqlite_file_in_a_new_folder(tmp_path):
    url = f"sqlite:///{tmp_path}/var/deep/peerline.db"
    upgrade(url)
    assert (tmp_path / "var" / "deep" / "peerline.db").exists()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_on(db_url):
    db = Database(db_url)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def _hold_write_lock(db_url: str, seconds: float) -> threading.Timer:
    """Take SQLite's write lock from a plain connection; let it go after `seconds`."""
    holder = sqlite3.connect(db_url.split("///", 1)[1], isolation_level=None,
                             check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")

    def release() -> None:
        holder.execute("COMMIT")
        holder.close()

    timer = threading.Timer(seconds, release)
    timer.start()
    return timer


@pytest.mark.parametrize("webhook", [False, True], ids=["busy-handler", "polling"])
def test_a_sqlite_writer_waits_for_the_write_lock_then_takes_it(db_url, webhook):
    """The webhook's writers poll for the lock (bot/core/db._begin_immediate), others sleep."""
    db = Database(db_url)
    timer = _hold_write_lock(db_url, 0.3)
    started = time.monotonic()
    with (db.short_waits() if webhook else nullcontext()), db.session() as session:
        session.execute(text("UPDATE messages SET body = body WHERE id = 0"))
        waited = time.monotonic() - started
    timer.join()
    db.dispose()
    assert 0.25 <= waited < 5


@pytest.mark.parametrize("poll_lock", [False, True], ids=["busy-handler", "polling"])
def test_a_sqlite_writer_gives_up_after_its_busy_timeout(db_url, poll_lock):
    engine = make_engine(db_url, busy_timeout_ms=200, poll_lock=poll_lock)
    timer = _hold_write_lock(db_url, 1.0)
    started = time.monotonic()
    with pytest.raises(OperationalError, match="locked"), engine.begin():
        pass
    waited = time.monotonic() - started
    timer.join()
    engine.dispose()
    assert 0.15 <= waited < 0.9


def test_a_pooled_sqlite_connection_switches_its_pragmas_with_its_use(db_url):
    """One pooled connection, polling writer, reader, writer: each gets its own pragmas."""
    engine = make_engine(db_url, poll_lock=True, poolclass=StaticPool)
    reader = engine.execution_options(**{READING: True})
    with engine.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 0
    with reader.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
        assert conn.exec_driver_sql("PRAGMA query_only").scalar() == 1
    with engine.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA query_only").scalar() == 0
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 0
    engine.dispose()


def test_foreign_keys_are_enforced(any_db_url):
    db = Database(any_db_url)
    with pytest.raises(IntegrityError), db.session() as session:
        session.execute(text(
            "INSERT INTO consent_events (participant_id, kind, method, created_at) "
            "VALUES (999999, 'opt_out', 'test', CURRENT_TIMESTAMP)"))
    db.dispose()


def test_message_sid_is_unique(any_db_url, clock):
    db = Database(any_db_url)
    with db.session() as session:
        session.add(Message(direction="in", sid="SMsame", phone="+12025550123", body="a",
                            created_at=clock.now()))
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(Message(direction="in", sid="SMsame", phone="+12025550123", body="b",
                            created_at=clock.now()))
    db.dispose()


def test_the_comparison_would_see_a_missing_migration(db_url):
    """Guard the guard: a column added to the models alone shows up as a difference."""
    from sqlalchemy import Column, MetaData, String

    changed = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["messages"].append_column(Column("mood", String(20)))
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), changed)
    engine.dispose()
    assert [d[0] for d in diff] == ["add_column"]


def test_upgrade_drops_the_old_scheduler_job_table(tmp_path):
    """A database the old SQLAlchemy job store wrote to loses that table; the schema matches."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE apscheduler_jobs (id VARCHAR(191) PRIMARY KEY)")
    upgrade(url)
    with engine.connect() as conn:
        assert "apscheduler_jobs" not in inspect(conn).get_table_names()
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()
