"""The durable floor: a bare Flask app that stores each text with one commit, then answers TwiML.

Rules:
- One INSERT of (sid, from, body) into `floor_texts` (unique sid; a repeat
  does nothing) in its own transaction, committed before the answer: the
  least any webhook that stores before it answers can do.
- SQLite gets bot/core/db.py's pragmas (WAL, synchronous=NORMAL, foreign
  keys, busy timeout) and its `BEGIN IMMEDIATE`; PostgreSQL one autocommit
  INSERT. Both through the bare driver (sqlite3, psycopg), one connection
  per worker process, opened on its first request (after gunicorn forks).
- FLOOR_DATABASE is an SQLite file path or a PostgreSQL conninfo/URL
  (`postgresql://...`); `create_table` makes the table before the server starts.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from bare_app import TWIML
from flask import Flask, Response, request

BUSY_TIMEOUT_MS = 30_000  # bot/core/db.py BUSY_TIMEOUT_MS
TABLE = ("CREATE TABLE IF NOT EXISTS floor_texts (id {pk}, sid VARCHAR(64) NOT NULL UNIQUE,"
         " phone VARCHAR(32) NOT NULL, body TEXT NOT NULL)")


def _is_postgres(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def connect(target: str) -> Any:
    """Open one connection the way PeerLine's engine would (SQLite pragmas, PG autocommit)."""
    if _is_postgres(target):
        import psycopg  # the PostgreSQL driver is only needed on that backend

        return psycopg.connect(target, autocommit=True)
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def create_table(target: str) -> None:
    """Create the floor's one table."""
    conn = connect(target)
    pk = "BIGSERIAL PRIMARY KEY" if _is_postgres(target) else "INTEGER PRIMARY KEY"
    conn.execute(TABLE.format(pk=pk))
    conn.close()


def count(target: str) -> int:
    """Return how many texts the floor stored."""
    conn = connect(target)
    row = conn.execute("SELECT count(*) FROM floor_texts").fetchone()
    conn.close()
    return int(row[0])


def create_app() -> Flask:
    """Return a Flask app whose /sms/inbound commits the text, then answers a fixed TwiML."""
    app = Flask(__name__)
    target = os.environ["FLOOR_DATABASE"]
    postgres = _is_postgres(target)
    held: list[Any] = []

    def conn() -> Any:
        if not held:
            held.append(connect(target))
        return held[0]

    @app.post("/sms/inbound")
    def inbound() -> Response:
        form = request.form
        row = (form.get("MessageSid", ""), form.get("From", ""), form.get("Body", ""))
        db = conn()
        if postgres:
            db.execute("INSERT INTO floor_texts (sid, phone, body) VALUES (%s, %s, %s)"
                       " ON CONFLICT (sid) DO NOTHING", row)
        else:
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO floor_texts (sid, phone, body) VALUES (?, ?, ?)"
                       " ON CONFLICT (sid) DO NOTHING", row)
            db.execute("COMMIT")
        return Response(TWIML, mimetype="application/xml")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("{}", mimetype="application/json")

    return app
