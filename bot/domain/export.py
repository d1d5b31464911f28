"""Research exports: rows keyed by participant id, never phone numbers or names.

Rules on reading (issue 15):
- An export reads in one `Database.reading()` transaction (never SQLite's write
  lock; READ ONLY on PostgreSQL), selecting only the columns it writes, CHUNK_ROWS
  at a time: a server-side cursor on PostgreSQL, chunked fetches on SQLite. Rows
  are written as they come, so memory stays flat whatever the program's size.
- The audit row is written after the reading transaction, in its own short
  writing one, also when the export stops early (`stream`).

Rules on content (SPEC §13):
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
import io
import re
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import phonenumbers
from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from bot.core.db import Database
from bot.domain.fidelity import COLUMNS, fidelity_rows
from bot.domain.peg import PEG_COLUMNS, peg_rows
from bot.flows.model import Flow
from bot.models import CheckinAnswer, Coach, Escalation, Message, Participant

KINDS = ("checkins", "messages", "escalations", "peg", "fidelity")
CHUNK_ROWS = 1000  # rows fetched per round trip, and written per chunk
CACHED = 5_000  # scrubbed texts remembered (about 2 MB)
# Excel and LibreOffice run a cell that starts with one of these as a formula, also after
# leading spaces or line breaks.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
# A cell can only be a would-be formula if it starts with one of these (or a space before one).
_RISKY_FIRST = frozenset(_FORMULA_START) | {" "}
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_NUMBER_OR_FLAG = re.compile(r"[+-]?\d+(\.\d+)?|true|false|yes|no")
_DIGIT = re.compile(r"\d")  # what phonenumbers' matcher reads as digits
# The fewest digits any valid phone number has, country code included (+43 and +49 have
# 4-digit numbers): a text with fewer cannot hold one (tests/test_export_stream.py checks it
# against phonenumbers' metadata).
MIN_PHONE_DIGITS = 6


@dataclass(frozen=True)
class ExportOptions:
    """What an export may contain; the default is de-identified without free text."""

    include_free_text: bool = False
    text_variables: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    config: Any = None  # the program's settings and the time: the fidelity export needs them
    now: datetime | None = None


@dataclass
class Tally:
    """How many rows an export has written so far."""

    rows: int = 0


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


def _trie(words: Iterable[str]) -> str:
    """Return a regex for any of `words` that takes the longest one that fits at a position.

    The words share prefixes (a trie), so a text is scanned once whatever the
    number of names: 3,000 veterans' names as one flat alternation cost half a
    millisecond a text. At each letter the longer names are tried first, then
    the name that ends there, which is what an alternation sorted longest first
    matches.
    """
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def branch(node: dict[str, Any]) -> str:
        longer = [re.escape(char) + branch(child) for char, child in sorted(node.items()) if char]
        if not longer:
            return ""
        if "" in node:
            return "(?:" + "|".join(longer) + ")?"  # greedy: the longer names first
        return longer[0] if len(longer) == 1 else "(?:" + "|".join(longer) + ")"

    return branch(root)


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
        self.pattern = re.compile(r"(?<!\w)(" + _trie(labels) + r")(?!\w)",
                                  re.IGNORECASE) if labels else None
        # Many texts repeat word for word (a flow's questions, reminders): scrub each once.
        self._cache: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        """Return `text` with names and phone numbers replaced (remembered, up to CACHED texts)."""
        scrubbed = self._cache.get(text)
        if scrubbed is None:
            scrubbed = self._scrub(text)
            if len(self._cache) >= CACHED:
                self._cache.clear()  # bounded memory; the common texts come back at once
            self._cache[text] = scrubbed
        return scrubbed

    def _scrub(self, text: str) -> str:
        if len(_DIGIT.findall(text)) >= MIN_PHONE_DIGITS:  # else no number can be in it
            spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, "US")]
            for start, end in reversed(spans):
                text = text[:start] + "[phone]" + text[end:]
        if self.pattern is not None:
            text = self.pattern.sub(lambda m: self.labels[m.group(1).lower()], text)
        return text


def _withdrawn(session: Session) -> set[int]:
    return set(session.scalars(select(Participant.id).where(
        Participant.withdrawn_at.is_not(None))))


def _stream(session: Session, statement: Select[*tuple[Any, ...]]
            ) -> Iterator[Row[*tuple[Any, ...]]]:
    """Yield the rows of `statement` CHUNK_ROWS at a time (a server-side cursor on PostgreSQL)."""
    result = session.execute(statement.execution_options(stream_results=True,
                                                         yield_per=CHUNK_ROWS))
    for chunk in result.partitions():
        yield from chunk


def _rows(session: Session, kind: str, options: ExportOptions
          ) -> tuple[list[str], Iterator[list[Any]]]:
    if kind in ("peg", "fidelity"):  # scores and counts: no bodies, nothing to scrub
        if options.config is None or options.now is None:
            raise ValueError(f"the {kind} export needs the program's settings and the time")
        if kind == "peg":
            return PEG_COLUMNS, peg_rows(session)
        return COLUMNS, (row.cells() for row in fidelity_rows(session, options.config,
                                                             options.now))
    if kind not in KINDS:
        raise ValueError(f"unknown export {kind!r}; choose one of {', '.join(KINDS)}")
    scrub = Scrubber(session)
    withdrawn = _withdrawn(session)
    if kind == "checkins":
        columns = ["participant_id", "flow", "variable", "value", "asked_at", "answered_at",
                   "run_id", "free_text_left_out", "withdrawn"]

        def leave_out(flow: str, variable: str, value: str) -> bool:
            if options.include_free_text:
                return False
            if (flow, variable) in options.text_variables:
                return True
            return not _NUMBER_OR_FLAG.fullmatch(value.strip().lower()) and " " in value

        a = CheckinAnswer
        answers = select(a.participant_id, a.flow_id, a.variable, a.value, a.asked_at,
                         a.answered_at, a.run_id).order_by(a.id)
        return columns, (
            [who, flow, variable, "" if (out := leave_out(flow, variable, value))
             else scrub(value), _iso(asked), _iso(answered), run or "", int(out),
             int(who in withdrawn)]
            for who, flow, variable, value, asked, answered, run in _stream(session, answers)
        )
    if kind == "messages":
        columns = ["message_id", "participant_id", "direction", "kind", "body", "status",
                   "error_code", "flow", "step", "created_at", "sent_at", "free_text_left_out",
                   "withdrawn"]
        m = Message
        messages = (select(m.id, m.participant_id, m.direction, m.kind, m.body, m.status,
                           m.error_code, m.flow_id, m.step_id, m.created_at, m.sent_at)
                    .where(m.participant_id.is_not(None)).order_by(m.id))
        return columns, (
            [key, who, direction, what,
             "" if (out := direction == "in" and not options.include_free_text)
             else scrub(body), status, error or "", flow or "", step or "", _iso(created),
             _iso(sent), int(out), int(who in withdrawn)]
            for key, who, direction, what, body, status, error, flow, step, created, sent
            in _stream(session, messages)
        )
    columns = ["escalation_id", "participant_id", "kind", "urgent", "reason", "created_at",
               "acknowledged_at", "resolved_at", "withdrawn"]
    # Research subjects only: an alert about an unknown number or a coach is not theirs.
    e = Escalation
    escalations = (select(e.id, e.participant_id, e.kind, e.urgent, e.reason, e.created_at,
                          e.acknowledged_at, e.resolved_at)
                   .where(e.participant_id.is_not(None)).order_by(e.id))
    return columns, (
        [key, who, what, int(urgent), scrub(reason), _iso(created), _iso(acked), _iso(resolved),
         int(who in withdrawn)]
        for key, who, what, urgent, reason, created, acked, resolved
        in _stream(session, escalations)
    )


def csv_chunks(session: Session, kind: str, options: ExportOptions,
               tally: Tally | None = None) -> Iterator[str]:
    """Yield export `kind` as CSV text, CHUNK_ROWS rows at a time, counting rows in `tally`."""
    tally = tally if tally is not None else Tally()
    columns, rows = _rows(session, kind, options)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180; a bare \r is quoted
    writer.writerow(columns)
    for row in rows:
        # Only a string whose first character is risky can need _cell (a million rows' cells).
        writer.writerow([_cell(value) if value.__class__ is str and value[:1] in _RISKY_FIRST
                         else value for value in row])
        tally.rows += 1
        if tally.rows % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_csv(session: Session, kind: str, out: IO[str],
              options: ExportOptions | None = None) -> int:
    """Write export `kind` as CSV to `out`; return the number of rows."""
    tally = Tally()
    for chunk in csv_chunks(session, kind, options or ExportOptions(), tally):
        out.write(chunk)
    return tally.rows


def audit_detail(rows: int, free_text: bool, complete: bool) -> dict[str, Any]:
    """Return what an export's audit row records; `complete: False` marks one cut short."""
    return {"rows": rows, "free_text": free_text, **({} if complete else {"complete": False})}


def stream(db: Database, kind: str, options: ExportOptions,
           record: Callable[[Session, int, bool], None]) -> Generator[str, None, None]:
    """Yield export `kind` as CSV read in one reading transaction, then record it.

    `record(session, rows, complete)` adds the audit row in its own short
    writing transaction once the reading one has ended, also when the stream
    stops early (an error, a closed pipe, a download cut short: complete False;
    the callers then add `complete: false` to the audit detail).
    """
    tally, complete = Tally(), False
    try:
        with db.reading() as session:
            yield from csv_chunks(session, kind, options, tally)
        complete = True
    finally:
        with db.session() as session:
            record(session, tally.rows, complete)
