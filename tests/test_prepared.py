"""bot/core/prepared.run: the same rows as SQLAlchemy's own execution, on SQLite and PostgreSQL.

Each statement runs once through `Connection.execute` and once through
`prepared.run` with the same values; the stored values are read back raw
(exec_driver_sql, no result types), so a datetime stored as another string or a
JSON dumped otherwise would differ.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Table, bindparam, insert, update

from bot.core import prepared
from bot.core.db import make_engine
from bot.models import Coach, Message, Participant, Run

NOW = datetime(2026, 12, 6, 3, 0, 0, 123456, tzinfo=UTC)
MESSAGES: Table = Message.__table__  # type: ignore[assignment]
RUNS: Table = Run.__table__  # type: ignore[assignment]
PARTICIPANTS: Table = Participant.__table__  # type: ignore[assignment]
COACHES: Table = Coach.__table__  # type: ignore[assignment]
INSERT_MESSAGE = insert(MESSAGES)
INSERT_RUN = insert(RUNS)
INSERT_PARTICIPANT = insert(PARTICIPANTS)
UPDATE_RUN = update(RUNS).where(RUNS.c.id == bindparam("rid"))
END_RUN = update(RUNS).where(RUNS.c.id == bindparam("rid")).values(status="ended")


def _message(sid: str | None, **values: Any) -> dict[str, Any]:
    return {"direction": "out", "sid": sid, "participant_id": None, "coach_id": None,
            "phone": "+12025550123", "body": "Hi there", "num_media": 0, "kind": "reply",
            "status": "twiml", "segments": 1, "created_at": NOW, "sent_at": None, **values}


def _raw(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(sql).all()]


@pytest.fixture
def engine(any_db_url: str) -> Any:
    built = make_engine(any_db_url)
    with built.begin() as conn:
        conn.execute(insert(COACHES), {"name": "Sam Coach", "created_at": NOW})
        conn.execute(INSERT_PARTICIPANT, {
            "name": "Alex Doe", "phone": "+12025550123", "coach_id": 1,
            "timezone": "America/New_York", "enrolled_at": NOW})
    yield built
    built.dispose()


def test_inserts_store_what_sqlalchemy_stores(engine):
    with engine.begin() as conn:
        conn.execute(INSERT_MESSAGE, _message("SMone", sent_at=NOW - timedelta(days=1)))
        prepared.run(conn, INSERT_MESSAGE, _message("SMtwo", sent_at=NOW - timedelta(days=1)))
        prepared.run(conn, INSERT_MESSAGE, [_message("SMthree"), _message("SMfour")])
    rows = _raw(engine, "SELECT sid, phone, body, status, segments, created_at, sent_at "
                        "FROM messages ORDER BY id")
    assert [row[0] for row in rows] == ["SMone", "SMtwo", "SMthree", "SMfour"]
    assert rows[0][1:] == rows[1][1:]  # the datetimes as SQLite's strings, alike
    assert rows[2][1:6] == rows[0][1:6] and rows[2][6] is None and rows[3][1:] == rows[2][1:]


def test_updates_with_json_and_fixed_values_match_sqlalchemy(engine):
    run = {"participant_id": 1, "flow_id": "checkin", "flow_version": "v1", "status": "active",
           "step": "pain", "waiting": True, "variables": {}, "retries": 0, "trigger": "keyword",
           "started_at": NOW, "updated_at": NOW}
    with engine.begin() as conn:
        conn.execute(INSERT_RUN, [run, run])
        changes = {"variables": {"pain": 7, "note": "ok"}, "asked_at": NOW, "waiting": False,
                   "timeout_at": None}
        conn.execute(UPDATE_RUN, {"rid": 1, **changes})
        prepared.run(conn, UPDATE_RUN, [{"rid": 2, **changes}])
    with engine.begin() as conn:
        prepared.run(conn, END_RUN, [{"rid": 1, "updated_at": NOW}, {"rid": 2, "updated_at": NOW}])
    rows = _raw(engine, "SELECT status, step, waiting, variables, asked_at, timeout_at, "
                        "updated_at FROM runs ORDER BY id")
    assert rows[0] == rows[1] and rows[0][0] == "ended"


def test_a_left_out_column_gets_its_scalar_default(engine):
    without_body = {k: v for k, v in _message("SMfive").items() if k != "body"}
    with engine.begin() as conn:
        prepared.run(conn, INSERT_MESSAGE, without_body)  # body's default: ""
        prepared.run(conn, INSERT_MESSAGE, [_message("SMsix"), {**_message("SMseven"),
                                                                "run_id": None}])
    assert _raw(engine, "SELECT sid, body FROM messages ORDER BY id") == [
        ("SMfive", ""), ("SMsix", "Hi there"), ("SMseven", "Hi there")]


def test_a_callable_default_is_left_to_sqlalchemy(engine):
    veteran = {"name": "Kim Roe", "phone": "+12025550199", "coach_id": 1,
               "timezone": "America/Chicago", "enrolled_at": NOW}  # strategies: default=list
    with engine.begin() as conn:
        prepared.run(conn, INSERT_PARTICIPANT, veteran)
    assert _raw(engine, "SELECT strategies, fields FROM participants WHERE name = 'Kim Roe'") \
        == _raw(engine, "SELECT strategies, fields FROM participants WHERE name = 'Alex Doe'")
    dialect = engine.dialect
    assert prepared._plans[(INSERT_PARTICIPANT, dialect.name, dialect.driver,
                            tuple(sorted(veteran)))] is None  # compiled: left to SQLAlchemy
