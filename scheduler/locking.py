"""Make sure only one scheduler acts: a PostgreSQL advisory lock, or a file lock beside SQLite.

Both locks belong to a live connection or open file, so they vanish with the
process that held them (kill -9 included) and a standby can take over.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.core.files import private_dir

log = logging.getLogger(__name__)

ADVISORY_KEY = 0x5EE41E  # "peerline scheduler"; one per database


class SchedulerLock(Protocol):
    """A lock that at most one scheduler holds at a time."""

    def acquire(self) -> bool: ...

    def held(self) -> bool: ...

    def release(self) -> None: ...


class PostgresLock:
    """Hold `pg_try_advisory_lock` on a dedicated connection."""

    def __init__(self, engine: Any, key: int = ADVISORY_KEY):
        self.engine = engine
        self.key = key
        self._conn: Any = None
        self._guard = threading.RLock()  # one connection, used from several job threads

    def acquire(self) -> bool:
        """Try to take the lock without waiting; return whether it is held now."""
        with self._guard:
            return self._acquire()

    def _acquire(self) -> bool:
        if self.held():
            return True
        self._drop()
        conn = self.engine.connect()
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
                       .scalar())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def held(self) -> bool:
        """Tell whether our connection still lives (and so still holds the lock)."""
        with self._guard:
            if self._conn is None:
                return False
            try:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except Exception:  # noqa: BLE001 - a lost connection means a lost lock
                log.warning("scheduler lock connection lost; standing by")
                self._drop()
                return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # noqa: BLE001 - already gone
                pass
            self._conn = None

    def release(self) -> None:
        """Let another scheduler take over."""
        with self._guard:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                    self._conn.commit()
                except Exception:  # noqa: BLE001 - closing releases it anyway
                    pass
                self._drop()


class FileLock:
    """Hold an exclusive `flock` on a file beside the SQLite database."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Try to take the lock without waiting; return whether it is held now."""

        if self._fd is not None:
            return True
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def lock_for(db: Any) -> SchedulerLock:
    """Return the right lock for the database `db` (bot.db.Database)."""
    if db.is_postgres:
        return PostgresLock(db.engine)
    database = make_url(db.url).database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return FileLock(Path("var") / "scheduler.lock")
    return FileLock(Path(database).with_name(Path(database).name + ".scheduler.lock"))
