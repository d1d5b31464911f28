"""Create database engines and sessions; run Alembic migrations."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Table, create_engine, event, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bot.files import private_file

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Return an Engine; SQLite gets WAL, foreign keys and a busy timeout."""
    kwargs.setdefault("hide_parameters", True)  # errors and logs must not quote bodies/phones
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            private_file(path)  # 0600 in a 0700 folder; SQLite's -wal/-shm copy the mode
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock at BEGIN so concurrent writers queue, never deadlock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


class Database:
    """An engine plus its session factory."""

    def __init__(self, url: str, **engine_kwargs: Any):
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.wakers: list[Callable[[], None]] = []
        event.listen(self.sessions, "after_commit", self._after_commit)

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
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Any:
    """Return an Alembic Config pointing at our migrations and `url`."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Create or migrate the schema at `url` to `revision`."""
    from alembic import command

    make_engine(url).dispose()  # creates the SQLite folder if needed
    command.upgrade(alembic_config(url), revision)


def insert_many(session: Session, model: type[Any], rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """INSERT `rows` into the table of `model` (integer `id`); return their new ids, in order.

    PostgreSQL: the ids are drawn from the table's sequence first (one query)
    and the rows go in one executemany, which psycopg pipelines; a multi-row
    INSERT ... RETURNING costs the driver more than the server (it re-parses
    the long statement). SQLite: INSERT ... RETURNING id.
    """
    if not rows:
        return []
    table = cast(Table, model.__table__)
    if session.get_bind().dialect.name == "postgresql":
        sequence = func.pg_get_serial_sequence(table.name, "id")
        ids = sorted(session.scalars(select(func.nextval(sequence))
                                     .select_from(func.generate_series(1, len(rows)))))
        session.execute(insert(table),
                        [{**row, "id": new} for row, new in zip(rows, ids, strict=True)])
        return ids
    return list(session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars())
