"""Database.reading(): read transactions that never take the write lock (issue 15)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from bot.core.db import Database
from bot.models import Coach

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


def _add_coach(db: Database, name: str) -> None:
    with db.session() as session:
        session.execute(insert(Coach).values(name=name, active=True, role="coach", created_at=NOW))


def test_a_reader_does_not_block_a_writer(any_db_url: str) -> None:
    db = Database(any_db_url)
    try:
        with db.reading() as reader:
            before = reader.scalar(select(func.count()).select_from(Coach))
            took: dict[str, float] = {}

            def write() -> None:
                started = time.monotonic()
                _add_coach(db, "written while a page reads")
                took["s"] = time.monotonic() - started

            writer = threading.Thread(target=write)
            writer.start()
            writer.join(timeout=10)
            assert not writer.is_alive(), "the writer waited on the reader"
            assert took["s"] < 2
            # The reader keeps its snapshot (SQLite WAL) or sees committed rows (PG read
            # committed); either way it was never in the writer's way.
            assert reader.scalar(select(func.count()).select_from(Coach)) in (before, before + 1)
        with db.reading() as reader:
            assert reader.scalar(select(func.count()).select_from(Coach)) == before + 1
    finally:
        db.dispose()


def test_writing_in_a_reader_fails(any_db_url: str) -> None:
    db = Database(any_db_url)
    try:
        with pytest.raises(DBAPIError), db.reading() as reader:
            reader.execute(insert(Coach).values(name="x", active=True, role="coach",
                                                created_at=NOW))
    finally:
        db.dispose()


def test_a_writer_after_a_reader_on_the_same_connection_can_write(any_db_url: str) -> None:
    db = Database(any_db_url, **_one_connection(any_db_url))
    try:
        with db.reading() as reader:
            reader.scalar(select(func.count()).select_from(Coach))
        _add_coach(db, "after a read")
        with db.reading() as reader:
            assert reader.scalar(select(Coach.id).where(Coach.name == "after a read"))
    finally:
        db.dispose()


def _one_connection(url: str) -> dict[str, Any]:
    """Return engine options for a pool of one connection (reader and writer share it)."""
    if url.startswith("sqlite"):
        return {"poolclass": StaticPool}
    return {"pool_size": 1, "max_overflow": 0}
