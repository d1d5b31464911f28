"""Research exports: rows keyed by participant id, never phone numbers or names.

Rules (SPEC §13):
- De-identified by default: participants' and coaches' names inside texts and
  reasons become `[participant]` / `[coach]`, phone numbers become `[phone]`.
- A veteran's own words (inbound texts, answers to free-text steps) are left out,
  with a column saying so, unless `include_free_text` is asked for (the caller
  audits that choice).
- Rows of a participant who withdrew carry `withdrawn = 1`.
- Every cell is safe to open in a spreadsheet (no formulas, even after spaces).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.fidelity import COLUMNS, fidelity_rows
from bot.domain.peg import PEG_COLUMNS, peg_rows
from bot.flows.model import Flow
from bot.models import CheckinAnswer, Coach, Escalation, Message, Participant

KINDS = ("checkins", "messages", "escalations", "peg", "fidelity")
# Excel and LibreOffice run a cell that starts with one of these as a formula, also after
# leading spaces or line breaks.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_NUMBER_OR_FLAG = re.compile(r"[+-]?\d+(\.\d+)?|true|false|yes|no")


@dataclass(frozen=True)
class ExportOptions:
    """What an export may contain; the default is de-identified without free text."""

    include_free_text: bool = False
    text_variables: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    config: Any = None  # the program's settings and the time: the fidelity export needs them
    now: datetime | None = None


def text_variables(flows: Iterable[Flow]) -> frozenset[tuple[str, str]]:
    """Return (flow id, variable) of every step that saves a free-text answer."""
    return frozenset((flow.id, step.save) for flow in flows for step in flow.steps.values()
                     if step.save and step.expect is not None and step.expect.type == "text")


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _cell(value: Any) -> Any:
    """Return `value` safe to open in a spreadsheet: a would-be formula gets a leading '."""
    if not isinstance(value, str):
        return value
    stripped = value.lstrip(" \t\r\n")
    if (value.startswith(_FORMULA_START) or stripped.startswith(_FORMULA_START)) \
            and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


class Scrubber:
    """Replace people's names and phone numbers inside a text."""

    def __init__(self, session: Session):
        labels: dict[str, str] = {}
        for names, label in ((session.scalars(select(Coach.name)), "[coach]"),
                             (session.scalars(select(Participant.name)), "[participant]")):
            for name in names:
                for part in (name, *name.split()):
                    if len(part.strip(".,'-")) >= 2:
                        labels[part.strip(".,'-").lower()] = label  # a participant's wins
        self.labels = labels
        alternatives = sorted(labels, key=len, reverse=True)
        self.pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, alternatives)) + r")(?!\w)",
                                  re.IGNORECASE) if alternatives else None

    def __call__(self, text: str) -> str:
        """Return `text` with names and phone numbers replaced."""
        spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, "US")]
        for start, end in reversed(spans):
            text = text[:start] + "[phone]" + text[end:]
        if self.pattern is not None:
            text = self.pattern.sub(lambda m: self.labels[m.group(1).lower()], text)
        return text


def _withdrawn(session: Session) -> set[int]:
    return set(session.scalars(select(Participant.id).where(
        Participant.withdrawn_at.is_not(None))))


def _rows(session: Session, kind: str, options: ExportOptions
          ) -> tuple[list[str], Iterator[list[Any]]]:
    scrub = Scrubber(session)
    withdrawn = _withdrawn(session)
    if kind in ("peg", "fidelity"):  # scores and counts: no bodies, nothing to scrub
        if options.config is None or options.now is None:
            raise ValueError(f"the {kind} export needs the program's settings and the time")
        if kind == "peg":
            return PEG_COLUMNS, peg_rows(session)
        return COLUMNS, (row.cells() for row in fidelity_rows(session, options.config,
                                                             options.now))
    if kind == "checkins":
        columns = ["participant_id", "flow", "variable", "value", "asked_at", "answered_at",
                   "run_id", "free_text_left_out", "withdrawn"]

        def leave_out(a: CheckinAnswer) -> bool:
            if options.include_free_text:
                return False
            if (a.flow_id, a.variable) in options.text_variables:
                return True
            return not _NUMBER_OR_FLAG.fullmatch(a.value.strip().lower()) and " " in a.value

        answers = select(CheckinAnswer).order_by(CheckinAnswer.id)
        return columns, (
            [a.participant_id, a.flow_id, a.variable,
             "" if (out := leave_out(a)) else scrub(a.value), _iso(a.asked_at),
             _iso(a.answered_at), a.run_id or "", int(out), int(a.participant_id in withdrawn)]
            for a in session.scalars(answers).yield_per(1000)
        )
    if kind == "messages":
        columns = ["message_id", "participant_id", "direction", "kind", "body", "status",
                   "error_code", "flow", "step", "created_at", "sent_at", "free_text_left_out",
                   "withdrawn"]
        messages = (select(Message).where(Message.participant_id.is_not(None))
                    .order_by(Message.id))
        return columns, (
            [m.id, m.participant_id, m.direction, m.kind,
             "" if (out := m.direction == "in" and not options.include_free_text)
             else scrub(m.body), m.status, m.error_code or "", m.flow_id or "", m.step_id or "",
             _iso(m.created_at), _iso(m.sent_at), int(out), int(m.participant_id in withdrawn)]
            for m in session.scalars(messages).yield_per(1000)
        )
    if kind == "escalations":
        columns = ["escalation_id", "participant_id", "kind", "urgent", "reason", "created_at",
                   "acknowledged_at", "resolved_at", "withdrawn"]
        # Research subjects only: an alert about an unknown number or a coach is not theirs.
        escalations = (select(Escalation).where(Escalation.participant_id.is_not(None))
                       .order_by(Escalation.id))
        return columns, (
            [e.id, e.participant_id, e.kind, int(e.urgent), scrub(e.reason), _iso(e.created_at),
             _iso(e.acknowledged_at), _iso(e.resolved_at), int(e.participant_id in withdrawn)]
            for e in session.scalars(escalations).yield_per(1000)
        )
    raise ValueError(f"unknown export {kind!r}; choose one of {', '.join(KINDS)}")


def write_csv(session: Session, kind: str, out: IO[str],
              options: ExportOptions | None = None) -> int:
    """Write export `kind` as CSV to `out`; return the number of rows."""
    columns, rows = _rows(session, kind, options or ExportOptions())
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180; a bare \r in a text is quoted
    writer.writerow(columns)
    count = 0
    for row in rows:
        writer.writerow([_cell(value) for value in row])
        count += 1
    return count
