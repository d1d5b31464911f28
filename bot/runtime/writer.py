"""The one writer of engine results: a transaction's rows, collected per table, written in bulk.

Rules (docs/architecture.md):
- Every engine result reaches the database through a Writer: the webhook's
  one message (a batch of one), a start, the check-in job's starts, the
  timeouts and expiries passes, the scheduled nudge drafts. Callers collect
  rows with the methods below, then call write() once, inside their
  transaction; write() commits nothing.
- Rows are plain column values, built by the modules that own their rules
  (runs: bot/runtime/runs.py; texts: bot/outbox/queue.py; escalations:
  bot/domain/escalations.plan_escalation; drafts: bot/domain/nudges.draft_row;
  status moves: bot/domain/program_arc; audit rows: bot/domain/audit.audit_row).
  A row that needs a new run's id is built once the runs are written.
- write() order, each table in few statements: participant changes (one
  UPDATE per set of columns), changed runs (one executemany UPDATE), new runs
  (insert_many), check-in answers, escalations and drafts (INSERT ... ON
  CONFLICT (event_key) DO NOTHING: one per event, also against a concurrent
  writer), then, second phase, the texts of the escalations that went in
  (they carry the new `#ID`) with every other queued text (queue_messages_bulk),
  the TwiML replies, the stored message, the audit rows and rows that need no id
  back (`insert`: the inbox item of a free text).
- Its statements are built once and run as SQL compiled once
  (bot/core/prepared.run): SQLAlchemy's work around each statement cost more
  than the SQL; the statements and values are the same.
- Participant and stored-message changes are kept on the object too, so later
  jobs of the same batch see them; on an ORM object they are set as already
  stored (the Core UPDATE writes them), so the unit of work writes nothing.
  Replies that travel in the TwiML are Core inserts too (queue.reply_row).
- A `deferred` writer (the webhook's processing outside SQLite's write lock,
  bot/inbound/lockhold.py) writes nothing until its caller holds the lock and
  turns `deferred` off: a write() asked for before then (Batch.reply's, so
  the late-answer check reads the runs as they are) keeps collecting when
  only participant and stored-message columns wait, which no later read of
  the batch looks at, and raises WriteOutsideLock otherwise (the text is then
  processed under the lock).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import instance_state

from bot.core import prepared
from bot.core.db import WriteOutsideLock, insert_many, insert_new
from bot.core.durations import quiet_hours_end
from bot.domain.escalations import EscalationPlan
from bot.domain.nudges import pause_for_participant
from bot.models import AuditLog, CheckinAnswer, Escalation, Nudge, Participant, Run
from bot.models import Message as StoredMessage
from bot.outbox.queue import QueuedText, queue_messages_bulk
from bot.runtime.runs import RUNS, RunRow
from bot.services import Services

Later = Callable[[], Any]  # builds a row once the new runs have their ids
PARTICIPANTS = cast(Table, Participant.__table__)


MESSAGES = cast(Table, StoredMessage.__table__)
# Built once: building and keying a statement per write costs more than running it.
_UPDATE_BY_ID = {table.name: update(table).where(table.c.id == bindparam("row_id"))
                 for table in (PARTICIPANTS, MESSAGES)}
_UPDATE_RUN = update(RUNS).where(RUNS.c.id == bindparam("rid"))
_INSERT_ANSWERS = insert(cast(Table, CheckinAnswer.__table__))
_INSERT_REPLIES = insert(MESSAGES)
_INSERT_AUDIT = insert(cast(Table, AuditLog.__table__))
_INSERTS: dict[str, Any] = {}  # Writer.insert's statements, built once per table


def _change(changes: dict[int, dict[str, Any]], row: Any, values: dict[str, Any]) -> None:
    """Note `values` for the row's UPDATE and show them on the object as already stored."""
    changes.setdefault(row.id, {}).update(values)
    try:
        instance_state(row)
    except AttributeError:  # a plain object
        for column, value in values.items():
            setattr(row, column, value)
        return
    for column, value in values.items():  # no unit-of-work flush: write() stores them
        set_committed_value(row, column, value)


class Writer:
    """Rows of one transaction, per table; write() stores them with a few bulk statements."""

    def __init__(self, session: Session, services: Services, now: datetime):
        self.session, self.services, self.now = session, services, now
        self.new_runs: list[RunRow] = []
        self.changed_runs: dict[int, RunRow] = {}
        self.participants: dict[int, dict[str, Any]] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.replies: list[dict[str, Any]] = []
        self.answers: list[Later] = []
        self.texts: list[Later] = []
        self.escalations: list[Later] = []
        self.drafts: list[Later] = []
        self.audits: list[dict[str, Any]] = []
        self.rows: list[tuple[Table, dict[str, Any]]] = []
        self.paused: set[int] = set()
        self.deferred = False
        self._due: dict[str, datetime] = {}
        self.drafted = 0  # drafts the last write() inserted

    # -- collecting -----------------------------------------------------------------------

    def add_run(self, run: RunRow) -> None:
        """Insert `run` (it gets its id in write())."""
        self.new_runs.append(run)

    def touch(self, run: RunRow) -> None:
        """Store the changes made to a run read from the database."""
        if run.id is not None:
            self.changed_runs[run.id] = run

    def set_participant(self, participant: Any, column: str, value: Any) -> None:
        """Change one participant column (kept on the object, written in write())."""
        _change(self.participants, participant, {column: value})

    def set_message(self, message: Any, **values: Any) -> None:
        """Change columns of a stored message (kept on the object, written in write())."""
        _change(self.messages, message, values)

    def reply(self, row: dict[str, Any]) -> None:
        """Insert a reply that travels in the TwiML (bot/outbox/queue.reply_row)."""
        self.replies.append(row)

    def answer(self, run: RunRow, **values: Any) -> None:
        """Insert a check-in answer of `run`."""
        self.answers.append(lambda: {**values, "run_id": run.id})

    def text(self, make: Callable[[], QueuedText]) -> None:
        """Queue the text `make()` returns (called once the runs have their ids)."""
        self.texts.append(make)

    def daytime(self, timezone: str) -> datetime:
        """Return now, or the end of the program's quiet hours in `timezone` (cached per zone)."""
        if timezone not in self._due:
            self._due[timezone] = quiet_hours_end(self.services.config.program.quiet_hours,
                                                  self.now, timezone)
        return self._due[timezone]

    def escalate(self, make: Callable[[], EscalationPlan]) -> None:
        """Open the escalation `make()` plans, unless its event_key exists; then its texts."""
        self.escalations.append(make)

    def draft(self, make: Callable[[], dict[str, Any]]) -> None:
        """Insert the draft row `make()` returns, unless its event_key exists."""
        self.drafts.append(make)

    def audit(self, row: dict[str, Any]) -> None:
        """Insert an audit-log row (bot/domain/audit.audit_row)."""
        self.audits.append(row)

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        """Insert a row that needs no id back (an inbox item), after the texts."""
        self.rows.append((table, row))

    # -- writing --------------------------------------------------------------------------

    def write(self) -> None:
        """Write everything collected, table by table, and start collecting afresh."""
        if self.deferred:
            if self.new_runs or self.changed_runs or self.answers or self.texts \
                    or self.escalations or self.drafts or self.audits or self.replies \
                    or self.rows:
                raise WriteOutsideLock("rows a later read would see")
            return  # participant and message columns: written with the rest, later
        session, now = self.session, self.now
        self._write_changes(PARTICIPANTS, self.participants)
        self._write_runs()
        answers = [make() for make in self.answers]
        if answers:
            prepared.run(session.connection(), _INSERT_ANSWERS, answers)
        plans = [make() for make in self.escalations]
        opened = insert_new(session, Escalation, [plan.row for plan in plans], "event_key",
                            returning="id")
        drafts = [make() for make in self.drafts]
        self.drafted = len(insert_new(session, Nudge, drafts, "event_key"))
        texts = [make() for make in self.texts]
        audits = list(self.audits)
        for plan in plans:
            escalation_id = opened.pop(plan.event_key, None)
            if escalation_id is None:
                continue  # opened before (or twice in this batch): nobody is texted again
            texts += plan.texts(self.services, escalation_id, now)
            audits.append(plan.audit(escalation_id, now))
            if plan.row["urgent"] and plan.participant.id not in self.paused:
                self.paused.add(plan.participant.id)
                pause_for_participant(session, plan.participant.id, now)
        queue_messages_bulk(session, texts)
        if self.replies:
            prepared.run(session.connection(), _INSERT_REPLIES, self.replies)
        self._write_changes(MESSAGES, self.messages)
        if audits:
            prepared.run(session.connection(), _INSERT_AUDIT, audits)
        for table, row in self.rows:
            statement = _INSERTS.get(table.name)
            if statement is None:
                statement = _INSERTS[table.name] = insert(table)
            prepared.run(session.connection(), statement, row)
        self.new_runs, self.changed_runs, self.participants, self.messages = [], {}, {}, {}
        self.answers, self.texts, self.escalations, self.drafts, self.audits = [], [], [], [], []
        self.replies, self.rows = [], []

    def _write_changes(self, table: Table, changes: dict[int, dict[str, Any]]) -> None:
        """UPDATE the changed rows of `table`: one executemany per set of columns."""
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row_id, values in changes.items():
            by_columns.setdefault(tuple(sorted(values)), []).append({"row_id": row_id, **values})
        for rows in by_columns.values():
            prepared.run(self.session.connection(), _UPDATE_BY_ID[table.name], rows)

    def _write_runs(self) -> None:
        changed = [{"rid": run_id, **run.values()} for run_id, run in self.changed_runs.items()]
        if changed:
            prepared.run(self.session.connection(), _UPDATE_RUN, changed)
        if self.new_runs:
            ids = insert_many(self.session, Run, [run.values() for run in self.new_runs])
            for run, run_id in zip(self.new_runs, ids, strict=True):
                run.id = run_id

