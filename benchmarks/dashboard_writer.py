"""Write the dashboard benchmark's rows in bulk: tuples per table, parents first.

Rules:
- Rows are tuples in the column order of COLUMNS; ids are given, so rows can point at
  each other, and PostgreSQL's sequences are set past them at the end.
- SQLite takes them through the driver's executemany (foreign keys off, no fsync),
  PostgreSQL through COPY; a JSON value is dumped, an SQLite time written as SQLAlchemy does.
- Every buffer is written, parents before children, once any one is full.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine


def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME storage format; UTCDateTime stores UTC.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Writer:
    """Buffer tuples per table and write them in bulk: executemany (SQLite) or COPY (PG)."""

    COLUMNS = {
        "coaches": "id name phone role username password_hash timezone active failed_logins "
                   "session_version created_at",
        "participants": "id phone name coach_id timezone status nudges_paused strategies fields "
                        "enrolled_at program_end_at peg_baseline consent_version consented_at "
                        "withdrawn_at withdrawal_reason last_inbound_at last_outbound_at",
        "consent_events": "participant_id kind version method created_at",
        "runs": "id participant_id flow_id flow_version status step waiting variables retries "
                "asked_at trigger started_at updated_at ended_at",
        "messages": "id direction sid participant_id coach_id phone body num_media segments kind "
                    "status error_code flow_id step_id run_id reply_twiml processed_at "
                    "created_at sent_at updated_at",
        "outbox": "message_id kind to_phone priority state respect_quiet_hours to_participant "
                  "due_at attempts last_error created_at finished_at",
        "checkin_answers": "participant_id run_id flow_id variable value asked_at answered_at",
        "nudges": "id participant_id coach_id body original_body reason source event_key "
                  "status paused due_at max_lateness_seconds decided_by_id decided_at "
                  "message_id created_at",
        "escalations": "id participant_id coach_id kind urgent phone texts reason event_key "
                       "run_id message_id created_at coach_notified_at acknowledged_at "
                       "acknowledged_by_id resolved_at resolved_by_id",
        "inbox_items": "participant_id coach_id message_id notified_at read_at created_at",
        "contacts": "participant_id coach_id kind minutes topics note via contact_at created_at",
        "audit_log": "actor_id actor action target_type target_id detail created_at",
    }
    BATCH = 20_000

    def __init__(self, url: str):
        self.url = url
        self.postgres = url.startswith("postgresql")
        self.engine = create_engine(url)
        self.conn = self.engine.connect()
        self.raw: Any = self.conn.connection.driver_connection
        if not self.postgres:
            self.raw.execute("PRAGMA synchronous=OFF")
            self.raw.execute("PRAGMA foreign_keys=OFF")
        self.buffers: dict[str, list[tuple[Any, ...]]] = {t: [] for t in self.COLUMNS}
        self.counts: dict[str, int] = dict.fromkeys(self.COLUMNS, 0)

    def add(self, table: str, *row: Any) -> None:
        self.buffers[table].append(row)

    def maybe_flush(self) -> None:
        """Write every buffer, parents first, once one is full (call between whole rows sets)."""
        if any(len(buffer) >= self.BATCH for buffer in self.buffers.values()):
            self.finish_buffers()

    def finish_buffers(self) -> None:
        for table in self.COLUMNS:  # parents before children: the order of COLUMNS
            self.flush(table)

    def _value(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value)
        if not self.postgres and isinstance(value, datetime):
            return _sqlite_time(value)
        return value

    def flush(self, table: str) -> None:
        rows = [tuple(self._value(v) for v in row) for row in self.buffers[table]]
        self.buffers[table] = []
        if not rows:
            return
        columns = self.COLUMNS[table].split()
        self.counts[table] += len(rows)
        if self.postgres:
            with self.raw.cursor() as cur, cur.copy(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            self.raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                                 rows)

    def finish(self) -> None:
        self.finish_buffers()
        if self.postgres:
            with self.raw.cursor() as cur:
                for table in ("coaches", "participants", "runs", "messages", "nudges",
                              "escalations", "consent_events", "outbox", "checkin_answers",
                              "inbox_items", "contacts", "audit_log"):
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"(SELECT coalesce(max(id), 1) FROM {table}))")
        self.raw.commit()
        self.conn.close()
        self.engine.dispose()
