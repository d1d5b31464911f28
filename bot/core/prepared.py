"""Run the hot path's Core statements as SQL compiled once, skipping SQLAlchemy's per-run work.

Why (issue 15, the webhook's CPU per text): the SQL of a text's statements is
cheap; SQLAlchemy's work around each one (cache key, execution context, result
set-up) cost 0.09-0.13 ms, exec_driver_sql 0.04 (benchmarks/webhook_mix_cpu.py).

Rules:
- `run(connection, statement, params)` compiles `statement` once per dialect and
  set of parameter names, then binds each run's values through the types' own
  bind processors (the values SQLAlchemy would send: UTC datetimes as SQLite's
  strings, JSON dumped) and sends it with `Connection.exec_driver_sql`, so
  events (the statement counts, lockhold's refusal of writes outside the lock),
  error wrapping and the invalidation of a dropped connection stay SQLAlchemy's.
- Only for statements built once (module constants): each is kept in a cache.
- A column left out gets its scalar default, as SQLAlchemy sends it; a
  statement SQLAlchemy would have to finish at run time (a callable or SQL
  default, expanding IN, escaped names, values computed by a callable) runs the
  ordinary way, as does a list of rows whose names differ.
- Rows come back as the driver returns them (RETURNING: ids only; no result types).
- The bulk inserts every writer uses, `insert_many` and `insert_new`, live here
  with their statements built once per table and dialect (bot/core/db.py
  re-exports them, where callers import them from).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Executable, Table, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler


@dataclass(frozen=True)
class _Plan:
    """A statement compiled for one dialect and one set of parameter names."""

    sql: str
    names: tuple[str, ...]  # every bind, in the SQL's order when the dialect is positional
    positional: bool
    sources: tuple[tuple[str, bool, Any], ...]  # per bind: name, from the row?, else this value
    processed: tuple[tuple[int, Callable[[Any], Any]], ...]  # binds whose type processes values
    returning: bool  # one row at a time: the driver's executemany returns no rows

    def bind(self, row: Mapping[str, Any]) -> Any:
        """Return the driver's parameters for one row."""
        values = [row[name] if given else fixed for name, given, fixed in self.sources]
        for at, process in self.processed:
            values[at] = process(values[at])
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))


_plans: dict[tuple[Executable, str, str, tuple[str, ...]], _Plan | None] = {}


def run(connection: Connection, statement: Executable,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> CursorResult[Any]:
    """Execute `statement` (built once) with one row of values or many (executemany)."""
    rows = [params] if isinstance(params, Mapping) else list(params)
    keys = tuple(sorted(rows[0]))
    key = (statement, connection.dialect.name, connection.dialect.driver, keys)
    plan = _plans[key] if key in _plans else _plans.setdefault(key, _compile(
        statement, connection, keys))
    if plan is None or (len(rows) > 1 and (plan.returning or any(
            len(row) != len(keys) or any(k not in row for k in keys) for row in rows[1:]))):
        return connection.execute(statement, params)
    bound = [plan.bind(row) for row in rows]
    return connection.exec_driver_sql(plan.sql, bound[0] if len(bound) == 1 else bound)


def _compile(statement: Executable, connection: Connection, keys: tuple[str, ...]) -> _Plan | None:
    """Compile `statement` for the connection's dialect; None when it must run the usual way."""
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, column_keys=list(keys),  # type: ignore[attr-defined]
                                 for_executemany=True)
    if not isinstance(compiled, SQLCompiler) or compiled.literal_execute_params \
            or compiled.post_compile_params or compiled.escaped_bind_names \
            or compiled.implicit_returning:
        return None
    defaults = {}  # a column's scalar default (or onupdate): the value SQLAlchemy would send
    for column, default in [*((c, c.default) for c in compiled.insert_prefetch),
                            *((c, c.onupdate) for c in compiled.update_prefetch)]:
        if default is None or not default.is_scalar or column.key in keys:
            return None  # a callable or SQL default: SQLAlchemy's to compute
        defaults[column.key] = default.arg  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup) if compiled.positiontup is not None \
        else tuple(compiled.binds)
    binds = [compiled.binds[name] for name in names]
    if any(bind.callable is not None for bind in binds if bind.key not in keys):
        return None
    found = [compiled._bind_processors.get(name) for name in names]
    processors = [proc for proc in found if proc is None or callable(proc)]
    if len(processors) != len(found):  # a tuple's processors: SQLAlchemy expands those
        return None
    fixed = [None if name in keys else defaults[name] if name in defaults
             else bind.effective_value for name, bind in zip(names, binds, strict=True)]
    return _Plan(sql=compiled.string, names=names, positional=compiled.positiontup is not None,
                 sources=tuple((name, name in keys, value)
                               for name, value in zip(names, fixed, strict=True)),
                 processed=tuple((at, process) for at, process in enumerate(processors)
                                 if process is not None),
                 returning=bool(compiled.returning))


_STATEMENTS: dict[tuple[str, str, str], Any] = {}  # insert_many's and insert_new's


def insert_many(session: Session, model: type[Any], rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """INSERT `rows` into the table of `model` (integer `id`); return their new ids, in order.

    PostgreSQL: the ids are drawn from the table's sequence first (one query)
    and the rows go in one executemany, which psycopg pipelines; a multi-row
    INSERT ... RETURNING costs the driver more than the server (it re-parses
    the long statement). SQLite: one multi-row INSERT ... RETURNING id (asking
    SQLite to return them in the rows' order would make it insert row by row);
    the transaction holds the write lock (BEGIN IMMEDIATE), so each row gets
    the next id, in order, and the sorted ids are the rows' ids.
    """
    if not rows:
        return []
    table = cast(Table, model.__table__)
    ids_of, insert_rows, returning = _many_statements(table)
    if session.get_bind().dialect.name == "postgresql":
        ids = sorted(session.scalars(ids_of, {"n": len(rows)}))
        run(session.connection(), insert_rows,
            [{**row, "id": new} for row, new in zip(rows, ids, strict=True)])
        return ids
    if len(rows) == 1:
        return [int(run(session.connection(), returning, rows[0]).scalar_one())]
    return sorted(session.execute(returning, rows).scalars())


def _many_statements(table: Table) -> tuple[Any, Any, Any]:
    """Return insert_many's statements for `table`: ids from its sequence, INSERT, RETURNING."""
    found = _STATEMENTS.get(("many", table.name, ""))
    if found is None:  # built once per table: building them per call cost more than running
        sequence = func.pg_get_serial_sequence(table.name, "id")
        ids_of = select(func.nextval(sequence)).select_from(
            func.generate_series(1, bindparam("n")))
        found = _STATEMENTS.setdefault(("many", table.name, ""), (
            ids_of, insert(table), insert(table).returning(table.c.id)))
    return cast(tuple[Any, Any, Any], found)


def insert_new(session: Session, model: type[Any], rows: Sequence[Mapping[str, Any]], key: str,
               returning: str | None = None) -> dict[Any, Any]:
    """INSERT `rows`, skipping those whose unique `key` exists; return what went in.

    The answer maps each inserted row's `key` to its `returning` column (to the
    key itself without one). ON CONFLICT (key) DO NOTHING ... RETURNING, on
    PostgreSQL or SQLite (the two supported databases): a row a concurrent
    transaction is inserting waits for it to end, then is skipped if it committed.
    """
    if not rows:
        return {}
    table = cast(Table, model.__table__)
    name = session.get_bind().dialect.name
    cached = (name, table.name, f"{key} {returning}")
    statement = _STATEMENTS.get(cached)
    if statement is None:  # built once per dialect, table and columns
        dialect = postgresql if name == "postgresql" else sqlite
        statement = _STATEMENTS.setdefault(cached, dialect.insert(table).on_conflict_do_nothing(
            index_elements=[table.c[key]]).returning(
            table.c[key], *([table.c[returning]] if returning is not None else [])))
    if returning is None:
        return {found: found for found in session.execute(statement, list(rows)).scalars()}
    return {found: value for found, value in session.execute(statement, list(rows))}
