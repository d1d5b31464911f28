"""Create database engines and sessions; run Alembic migrations.

Rules on waiting:
- Inside `Database.short_waits()` (the SMS webhook: Twilio gives up after
  15 s, and a crisis reply must not wait on a lock) sessions and
  `active_engine` use a second engine whose waits are short: SQLite's busy
  timeout is WEBHOOK_WAIT_MS; PostgreSQL's lock_timeout is WEBHOOK_WAIT_MS,
  statement_timeout WEBHOOK_STATEMENT_MS, connect_timeout and the pool's wait
  3 s. Running out of any of them raises like an unreachable database
  (bot.spool.DATABASE_DOWN), so the text is spooled and still answered.
- Everything else (scheduler, CLI, dashboard) keeps the long waits: SQLite
  waits BUSY_TIMEOUT_MS for a lock, PostgreSQL as long as the server lets it.

Rules on reading:
- A writing transaction (`Database.session()`) takes SQLite's write lock at
  BEGIN (BEGIN IMMEDIATE), so concurrent writers queue instead of deadlocking.
- A reading transaction (`Database.reading()`: dashboard pages, exports) must
  never hold that lock: on SQLite it is a deferred BEGIN under WAL, so it reads
  a snapshot while the webhook writes; on PostgreSQL it is READ ONLY. Writing
  in it fails. A page that must also write (an audit row) does so in its own
  short `session()`, and renders its template after both have ended.

Rules on reading outside the write lock (the webhook's SQLite engine, for
bot/inbound/lockhold.py):
- Inside `unlocked_reads()` a connection begins no transaction (each SELECT
  reads the latest commit under WAL, never waiting for the write lock), logs
  the rows every read returned, and raises WriteOutsideLock before any
  statement that is not a SELECT runs.
- `reads_unchanged()`, once the connection holds the write lock, runs every
  logged read again: the same rows mean the same decisions as under the lock.
"""

from __future__ import annotations

import contextvars
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.core.files import private_file
from bot.core.prepared import insert_many as insert_many  # re-exported: callers' home
from bot.core.prepared import insert_new as insert_new

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"
BUSY_TIMEOUT_MS = 30_000
WEBHOOK_WAIT_MS = 3_000  # lock waits of the webhook's transactions
WEBHOOK_STATEMENT_MS = 3_000  # any one statement of the webhook (PostgreSQL)
# A crisis reply waits at most ~WEBHOOK_WAIT_MS for the store, the same again at worst for
# the processing transaction, then the spool answers: well inside Twilio's 15 s.
LOCK_POLL_S = 0.001  # at most this long between tries for SQLite's write lock
READING = "peerline_reading"  # execution option of Database.reading()'s connections
WRITING = "peerline_writing"
MODE = "peerline_mode"  # a pooled SQLite connection's pragmas: READING or WRITING
UNLOCKED = "peerline_unlocked"  # execution option inside unlocked_reads(): no BEGIN at all
_short_waits: contextvars.ContextVar[bool] = contextvars.ContextVar("peerline_short_waits",
                                                                    default=False)


def make_engine(url: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, poll_lock: bool = False,
                **kwargs: Any) -> Engine:
    """Return an Engine; SQLite gets WAL, foreign keys and a busy timeout.

    `poll_lock` (SQLite, the webhook's engine): writers poll for the write lock
    (_begin_immediate) instead of sleeping in SQLite's busy handler.
    """
    kwargs.setdefault("hide_parameters", True)  # errors and logs must not quote bodies/phones
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            private_file(path)  # 0600 in a 0700 folder; SQLite's -wal/-shm copy the mode
        kwargs.setdefault("connect_args", {"check_same_thread": False,
                                           "timeout": busy_timeout_ms / 1000})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            options = conn.get_execution_options()
            if options.get(UNLOCKED):
                return  # unlocked_reads(): each read is its own snapshot, nothing is written
            if options.get(READING):
                # A reader: a WAL snapshot, no write lock; query_only makes a write fail.
                if conn.info.get(MODE) != READING:
                    conn.exec_driver_sql("PRAGMA query_only=ON")
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
                    conn.info[MODE] = READING  # the pooled connection keeps the pragmas
                conn.exec_driver_sql("BEGIN")
                return
            if conn.info.get(MODE) != WRITING:
                conn.exec_driver_sql("PRAGMA query_only=OFF")
                # A polling writer waits in _begin_immediate, not in SQLite's busy handler.
                wait = 0 if poll_lock else int(busy_timeout_ms)
                conn.exec_driver_sql(f"PRAGMA busy_timeout={wait}")
                conn.info[MODE] = WRITING
            # Take the write lock at BEGIN so concurrent writers queue, never deadlock.
            if poll_lock:
                _begin_immediate(conn, busy_timeout_ms)
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def _begin_immediate(conn: Any, busy_timeout_ms: int) -> None:
    """BEGIN IMMEDIATE, tried again every LOCK_POLL_S at most until the busy timeout.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ... ms between tries,
    so a writer that finds the lock taken for 2 ms may wait 8 or 18
    (benchmarks/sqlite_lock.py: lock-wait p99 54-65 ms against 3-20 ms polled).
    A writing connection runs with busy_timeout 0 and waits here instead: once
    it holds the write lock nothing else it runs waits for a lock under WAL.
    Only the webhook's engine polls (a few threads a process, each text waiting
    on the lock): the sender's ~30 threads polling in Python fought over the
    GIL and sent 76-85/s of 100 (benchmarks/sender_rate.py), so every other
    engine keeps SQLite's handler, which sleeps without the GIL.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    delay = LOCK_POLL_S / 8
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            code = getattr(exc.orig, "sqlite_errorcode", None) or 0
            busy = code & 0xFF == sqlite3.SQLITE_BUSY  # also BUSY_RECOVERY, an extended code
            if not busy or time.monotonic() + delay >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, LOCK_POLL_S)


class WriteOutsideLock(Exception):
    """A statement that is not a read was about to run inside unlocked_reads()."""


class _ReadLogCursor(sqlite3.Cursor):
    """A cursor that fetches each read whole, logs its rows, then hands them out."""

    _rows: list[Any] | None = None
    _at = 0

    def execute(self, sql: str, parameters: Any = (), /) -> _ReadLogCursor:
        """Run a SELECT and log (sql, parameters, rows); refuse anything else."""
        if not sql.lstrip()[:6].upper() == "SELECT":
            raise WriteOutsideLock(sql.split(None, 1)[0] if sql.strip() else "?")
        super().execute(sql, parameters)
        self._rows, self._at = super().fetchall(), 0
        frozen = tuple(parameters) if isinstance(parameters, list | tuple) else dict(parameters)
        cast(_ReadLogConnection, self.connection).reads.append((sql, frozen, self._rows))
        return self

    def executemany(self, sql: str, parameters: Any, /) -> _ReadLogCursor:
        """Refuse: only writes run many times."""
        raise WriteOutsideLock(sql.split(None, 1)[0] if sql.strip() else "?")

    def fetchone(self) -> Any:
        """Return the next logged row (None at the end)."""
        rows = self.fetchmany(1)
        return rows[0] if rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        """Return up to `size` more logged rows."""
        rows, end = self._rows or [], self._at + (self.arraysize if size is None else size)
        found, self._at = rows[self._at:end], min(len(rows), end)
        return found

    def fetchall(self) -> list[Any]:
        """Return the logged rows not handed out yet."""
        rows = self._rows or []
        found, self._at = rows[self._at:], len(rows)
        return found


class _ReadLogConnection(sqlite3.Connection):
    """The webhook's SQLite connection: while `reads` is a list, its cursors log reads."""

    reads: Any = None  # list of (sql, parameters, rows) inside unlocked_reads()

    def cursor(self, factory: Any = sqlite3.Cursor) -> Any:
        """Return a cursor; a logging one inside unlocked_reads()."""
        return super().cursor(_ReadLogCursor if self.reads is not None else factory)


Reads = list[tuple[str, Any, list[Any]]]


def logs_reads(connection: Connection) -> bool:
    """Tell whether `connection` can run unlocked_reads() (the webhook's SQLite engine)."""
    return isinstance(connection.connection.dbapi_connection, _ReadLogConnection)


@contextmanager
def unlocked_reads(connection: Connection) -> Iterator[Reads]:
    """Run reads on `connection` outside the write lock; yield the log of what they returned."""
    raw = cast(_ReadLogConnection, connection.connection.dbapi_connection)
    if connection.in_transaction() or raw.in_transaction:
        raise RuntimeError("unlocked_reads() needs a connection outside any transaction")
    log: Reads = []
    raw.reads = log
    connection.execution_options(**{UNLOCKED: True})
    try:
        yield log
    finally:
        raw.reads = None
        connection.execution_options(**{UNLOCKED: False})


def reads_unchanged(connection: Connection, reads: Reads) -> bool:
    """Run every logged read again (hold the write lock); tell whether each returns the same."""
    cursor = cast(_ReadLogConnection, connection.connection.dbapi_connection).cursor()
    try:
        return all(cursor.execute(sql, parameters).fetchall() == rows
                   for sql, parameters, rows in reads)
    finally:
        cursor.close()


def make_webhook_engine(url: str) -> Engine:
    """Return an Engine for the webhook: the same database, short lock and statement waits.

    SQLite's connections can log reads (unlocked_reads) for bot/inbound/lockhold.py.
    """
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": WEBHOOK_WAIT_MS / 1000,
                        "factory": _ReadLogConnection}
        return make_engine(url, busy_timeout_ms=WEBHOOK_WAIT_MS, poll_lock=True,
                           connect_args=connect_args)
    options = f"-c lock_timeout={WEBHOOK_WAIT_MS} -c statement_timeout={WEBHOOK_STATEMENT_MS}"
    # No ping per checkout: it is a round trip per transaction, two per text (benchmarks/
    # webhook.py). A connection the server dropped fails its first statement instead, which
    # invalidates the pool; the webhook's store tries once more (bot/inbound/store.py).
    return make_engine(url, pool_timeout=3, pool_pre_ping=False,
                       connect_args={"connect_timeout": 3, "options": options})


class Database:
    """An engine plus its session factory."""

    def __init__(self, url: str, **engine_kwargs: Any):
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        reader = (self.engine.execution_options(postgresql_readonly=True)
                  if self.engine.dialect.name == "postgresql"
                  else self.engine.execution_options(**{READING: True}))
        self.readers = sessionmaker(reader, expire_on_commit=False)
        self.wakers: list[Callable[[], None]] = []
        event.listen(self.sessions, "after_commit", self._after_commit)
        self._webhook: tuple[Engine, sessionmaker[Session]] | None = None
        self._webhook_lock = threading.Lock()

    def _short(self) -> tuple[Engine, sessionmaker[Session]]:
        """Return the short-wait engine and its sessions (made on first use)."""
        if self._webhook is None:
            with self._webhook_lock:
                if self._webhook is None:
                    if ":memory:" in self.url:  # a second engine would be another database
                        self._webhook = (self.engine, self.sessions)
                    else:
                        engine = make_webhook_engine(self.url)
                        sessions = sessionmaker(engine, expire_on_commit=False)
                        event.listen(sessions, "after_commit", self._after_commit)
                        self._webhook = (engine, sessions)
        return self._webhook

    @contextmanager
    def short_waits(self) -> Iterator[None]:
        """Make sessions and `active_engine` in this context wait seconds, not minutes."""
        token = _short_waits.set(True)
        try:
            yield
        finally:
            _short_waits.reset(token)

    @property
    def active_engine(self) -> Engine:
        """Return the engine for this context: the short-wait one inside short_waits()."""
        return self._short()[0] if _short_waits.get() else self.engine

    def _after_commit(self, session: Session) -> None:
        if session.info.pop("wake_sender", False):
            for wake in self.wakers:
                wake()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session in a transaction: commit on success, roll back on error."""
        factory = self._short()[1] if _short_waits.get() else self.sessions
        with factory() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """Yield a session in a read-only transaction that never takes the write lock."""
        with self.readers() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self._webhook is not None and self._webhook[0] is not self.engine:
            self._webhook[0].dispose()


def alembic_config(url: str) -> Any:
    """Return an Alembic Config pointing at our migrations and `url`."""

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Create or migrate the schema at `url` to `revision`."""

    make_engine(url).dispose()  # creates the SQLite folder if needed
    command.upgrade(alembic_config(url), revision)


def insert_once(session: Session, row: Any) -> bool:
    """Add `row` in a savepoint; False, with nothing added, if a unique key already holds it."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True
