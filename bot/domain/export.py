"""Research exports: rows keyed by participant id, never phone numbers."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.fidelity import COLUMNS, fidelity_rows
from bot.domain.peg import PEG_COLUMNS, peg_rows
from bot.models import CheckinAnswer, Escalation, Message

KINDS = ("checkins", "messages", "escalations", "peg", "fidelity")
# Excel and LibreOffice run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _cell(value: Any) -> Any:
    """Return `value` safe to open in a spreadsheet: a would-be formula gets a leading '."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) \
            and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _rows(session: Session, kind: str, config: Any = None,
          now: datetime | None = None) -> tuple[list[str], Iterator[list[Any]]]:
    if kind in ("peg", "fidelity"):
        if config is None or now is None:
            raise ValueError(f"the {kind} export needs the program's settings and the time")
        if kind == "peg":
            return PEG_COLUMNS, peg_rows(session)
        return COLUMNS, (row.cells() for row in fidelity_rows(session, config, now))
    if kind == "checkins":
        columns = ["participant_id", "flow", "variable", "value", "asked_at", "answered_at",
                   "run_id"]
        answers = select(CheckinAnswer).order_by(CheckinAnswer.id)
        return columns, (
            [a.participant_id, a.flow_id, a.variable, a.value, _iso(a.asked_at),
             _iso(a.answered_at), a.run_id or ""]
            for a in session.scalars(answers).yield_per(1000)
        )
    if kind == "messages":
        columns = ["message_id", "participant_id", "direction", "kind", "body", "status",
                   "error_code", "flow", "step", "created_at", "sent_at"]
        messages = (select(Message).where(Message.participant_id.is_not(None))
                    .order_by(Message.id))
        return columns, (
            [m.id, m.participant_id, m.direction, m.kind, m.body, m.status, m.error_code or "",
             m.flow_id or "", m.step_id or "", _iso(m.created_at), _iso(m.sent_at)]
            for m in session.scalars(messages).yield_per(1000)
        )
    if kind == "escalations":
        columns = ["escalation_id", "participant_id", "kind", "urgent", "reason", "created_at",
                   "acknowledged_at", "resolved_at"]
        # Research subjects only: an alert about an unknown number or a coach is not theirs.
        escalations = (select(Escalation).where(Escalation.participant_id.is_not(None))
                       .order_by(Escalation.id))
        return columns, (
            [e.id, e.participant_id, e.kind, int(e.urgent), e.reason, _iso(e.created_at),
             _iso(e.acknowledged_at), _iso(e.resolved_at)]
            for e in session.scalars(escalations).yield_per(1000)
        )
    raise ValueError(f"unknown export {kind!r}; choose one of {', '.join(KINDS)}")


def write_csv(session: Session, kind: str, out: IO[str], config: Any = None,
              now: datetime | None = None) -> int:
    """Write export `kind` as CSV to `out`; return the number of rows."""
    columns, rows = _rows(session, kind, config, now)
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; a bare \r in a text is quoted
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([_cell(value) for value in row])
        count += 1
    return count
