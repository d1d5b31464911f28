"""A veteran's PEG over the program: the baseline, each check-in's score, change from baseline.

Rules:
- A PEG is the three answers `pain`, `enjoyment`, `activity` saved in one run
  (bot.flows.hard_week.PEG_ITEMS); its score is their mean, to one decimal.
- The baseline is the first complete PEG, stored once on the participant
  (`peg_baseline`: the items, the score, when and in which program week) the
  moment its third answer is saved; later answers never move it. Normally it
  is the first weekly check-in, in week 1; pages say the week if it was later.
- Change from baseline is the latest score minus the baseline score: negative
  is better (less pain and interference).
- One grouping for every page, chart and export: `checkins()` puts a veteran's
  PEG answers (any spelling `peg_item` knows, 0-10) into check-ins, one per run
  (answers saved without a run: one per local day), oldest first; a check-in
  holds the latest answer to each item. The PEG history is the complete ones.
- `latest_scores()` gives the same check-ins' scores month by month without
  reading answers into Python: the database sums each run and keeps each month's
  latest complete one. It does so for a veteran whose PEG answers are all plain:
  in a run, saved as `pain`/`enjoyment`/`activity` (as the flows do), once each,
  whole or half numbers 0-10 as the flows write them (their sum is exact in any
  order). Anyone else's (old day-grouped answers, words, "6.25", two answers to
  one item, two check-ins ending the same second) go through `checkins()`.
  Numbers out of range ("-1", "11") are skipped by both, as `checkins()` does.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    TextClause,
    and_,
    case,
    cast,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from bot.domain.program_arc import week_of
from bot.flows.hard_week import PEG_ITEMS
from bot.models import PEG_ANSWER, CheckinAnswer, Participant


@dataclass(frozen=True)
class PegScore:
    """One complete PEG: when, the three items and their mean."""

    at: datetime
    week: int
    pain: float
    enjoyment: float
    activity: float

    @property
    def score(self) -> float:
        return round((self.pain + self.enjoyment + self.activity) / 3, 1)


def _items(values: Mapping[str, Any]) -> dict[str, float] | None:
    """Return the three PEG items of `values` as numbers 0-10, or None."""
    try:
        items = {item: float(values[item]) for item in PEG_ITEMS}
    except (KeyError, TypeError, ValueError):
        return None
    return items if all(0 <= v <= 10 for v in items.values()) else None


def baseline_from(participant: Participant, answers: Mapping[str, Any],
                  now: datetime) -> dict[str, Any] | None:
    """Return the baseline to store: None if the participant has one or `answers` lack a PEG."""
    if participant.peg_baseline:
        return None
    items = _items(answers)
    if items is None:
        return None
    return {**items, "score": round(sum(items.values()) / 3, 1), "at": now.isoformat(),
            "week": week_of(participant, now)}


def record_baseline(participant: Participant, answers: Mapping[str, Any], now: datetime) -> bool:
    """Store the baseline if the participant has none and `answers` hold a whole PEG."""
    baseline = baseline_from(participant, answers, now)
    if baseline is not None:
        participant.peg_baseline = baseline
    return baseline is not None


_ALIASES = {
    "pain": "pain", "pain_average": "pain", "average_pain": "pain",
    "enjoyment": "enjoyment", "enjoy": "enjoyment", "enjoyment_of_life": "enjoyment",
    "interference_enjoyment": "enjoyment",
    "activity": "activity", "general_activity": "activity", "activities": "activity",
    "interference_activity": "activity",
}
_PREFIXES = ("", "participant.", "peg_", "peg.")
# Every stored spelling (lower case) of a PEG item, for filtering answers in SQL.
PEG_VARIABLES = tuple(prefix + name for prefix in _PREFIXES for name in _ALIASES)


def peg_item(variable: str) -> str | None:
    """Return which PEG item a saved variable is (pain/enjoyment/activity), or None."""
    name = variable.lower().strip()
    name = name.removeprefix("participant.").removeprefix("peg_").removeprefix("peg.")
    return _ALIASES.get(name)


def is_peg_answer() -> ColumnElement[bool]:
    """Return a WHERE clause keeping the check-in answers that may be PEG items."""
    return func.lower(CheckinAnswer.variable).in_(PEG_VARIABLES)


def answer_columns() -> tuple[Any, ...]:
    """Return the columns `checkins()` reads, for a select of check-in answers."""
    return (CheckinAnswer.participant_id, CheckinAnswer.run_id, CheckinAnswer.variable,
            CheckinAnswer.value, CheckinAnswer.answered_at)


@lru_cache(maxsize=1024)
def _cached_item(variable: str) -> str | None:
    """Return peg_item(variable), cached: variable names come from the flow files."""
    return peg_item(variable)


def _value(text: str) -> float | None:
    """Return an answer's PEG value 0-10, or None (not cached: answers are veterans' words)."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if 0 <= value <= 10 else None


@dataclass
class Checkin:
    """One check-in's PEG answers: a run's, or one local day's answers saved without a run."""

    day: date  # the veteran's local day of its first answer
    at: datetime  # its latest answer
    values: dict[str, float] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return all(item in self.values for item in PEG_ITEMS)


def checkins(answers: Iterable[Any], tz: str) -> list[Checkin]:
    """Group check-in answers (with run_id, variable, value, answered_at) into PEG check-ins."""
    zone = ZoneInfo(tz)
    found: dict[object, Checkin] = {}
    for answer in sorted(answers, key=lambda a: a.answered_at):
        item = _cached_item(answer.variable)
        if item is None:
            continue
        value = _value(str(answer.value))
        if value is None:
            continue
        run_id = getattr(answer, "run_id", None)
        key = run_id if run_id is not None else ("day", answer.answered_at.astimezone(zone).date())
        checkin = found.get(key)
        if checkin is None:
            checkin = found[key] = Checkin(answer.answered_at.astimezone(zone).date(),
                                           answer.answered_at)
        checkin.values[item] = value
        checkin.at = answer.answered_at
    return sorted(found.values(), key=lambda c: c.at)


def scores(participant: Participant, found: Sequence[Checkin]) -> list[PegScore]:
    """Return the complete check-ins as PEG scores, oldest first."""
    return [PegScore(at=c.at, week=week_of(participant, c.at), pain=c.values["pain"],
                     enjoyment=c.values["enjoyment"], activity=c.values["activity"])
            for c in found if c.complete]


def answers(session: Session, participant_ids: Sequence[int],
            since: datetime | None = None) -> dict[int, list[Any]]:
    """Return the PEG answers of each participant (one query), oldest first."""
    query = (select(*answer_columns())
             .where(CheckinAnswer.participant_id.in_(participant_ids), is_peg_answer())
             .order_by(CheckinAnswer.participant_id, CheckinAnswer.answered_at,
                       CheckinAnswer.id))
    if since is not None:
        query = query.where(CheckinAnswer.answered_at >= since)
    found: dict[int, list[Any]] = {pid: [] for pid in participant_ids}
    for row in session.execute(query):
        found[row.participant_id].append(row)
    return found


def history(session: Session, participant: Participant) -> list[PegScore]:
    """Return the participant's complete PEGs, oldest first."""
    return scores(participant, checkins(answers(session, [participant.id])[participant.id],
                                        participant.timezone))


def histories(session: Session, participants: Sequence[Participant]) -> dict[int, list[PegScore]]:
    """Return each participant's complete PEGs, oldest first, in one query."""
    found = answers(session, [p.id for p in participants]) if participants else {}
    return {p.id: scores(p, checkins(found[p.id], p.timezone)) for p in participants}


def change_from_baseline(participant: Participant, latest: PegScore | None) -> float | None:
    """Return the latest score minus the baseline score (None without both)."""
    baseline = participant.peg_baseline or {}
    if latest is None or "score" not in baseline:
        return None
    return round(latest.score - float(baseline["score"]), 1)


PEG_COLUMNS = ["participant_id", "answered_at", "program_week", "pain", "enjoyment", "activity",
               "score", "baseline_score", "change_from_baseline"]


EXPORT_CHUNK = 500  # veterans whose PEG answers one export query reads


def peg_rows(session: Session) -> Iterator[list[Any]]:
    """Yield one export row per complete PEG, with its change from the veteran's baseline."""
    people = list(session.scalars(select(Participant).order_by(Participant.id)))
    for start in range(0, len(people), EXPORT_CHUNK):  # one query per chunk, not per veteran
        chunk = people[start:start + EXPORT_CHUNK]
        found = histories(session, chunk)
        yield from _export_rows(chunk, found)


def _export_rows(chunk: Sequence[Participant],
                 found: dict[int, list[PegScore]]) -> Iterator[list[Any]]:
    for participant in chunk:
        baseline = (participant.peg_baseline or {}).get("score")
        for score in found[participant.id]:
            yield [participant.id, score.at.isoformat(), score.week, _fmt(score.pain),
                   _fmt(score.enjoyment), _fmt(score.activity), _fmt(score.score),
                   "" if baseline is None else _fmt(float(baseline)),
                   "" if baseline is None else _fmt(round(score.score - float(baseline), 1))]


def _fmt(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


# ---- each month's latest score, summed in the database (bot.domain.fidelity) -----------

# The values the flows write for a 0-10 number step (whole numbers and halves): their sums
# are exact, so the database's sum equals pain + enjoyment + activity in Python.
_PLAIN_VALUES = tuple(str(n) for n in range(11)) + tuple(f"{n}.5" for n in range(10))
_ITEM_CODES = {"pain": 1, "enjoyment": 4, "activity": 16}  # three answers sum to 21 only
_COMPLETE = sum(_ITEM_CODES.values())  # when each item is answered once


class _PlainNumber(FunctionElement[bool]):
    """SQL: the (trimmed) text is a plain decimal: `-`, digits, one point, 12 characters."""

    type = Boolean()
    inherit_cache = True
    name = "plain_number"


@compiles(_PlainNumber, "sqlite")
def _plain_sqlite(element: _PlainNumber, compiler: Any, **kw: Any) -> str:
    text = compiler.process(element.clauses, **kw)
    core = f"(CASE WHEN {text} GLOB '-*' THEN substr({text}, 2) ELSE {text} END)"
    return (f"({core} NOT GLOB '*[^0-9.]*' AND {core} NOT GLOB '*.*.*' "
            f"AND {core} GLOB '*[0-9]*' AND length({text}) <= 12)")


@compiles(_PlainNumber)
def _plain_regex(element: _PlainNumber, compiler: Any, **kw: Any) -> str:
    text = compiler.process(element.clauses, **kw)
    return f"({text} ~ '^-?([0-9]+[.]?[0-9]*|[.][0-9]+)$' AND length({text}) <= 12)"


def _skipped() -> ColumnElement[bool]:
    """Return a WHERE clause: the answer is a plain number outside 0-10 (checkins() skips it)."""
    text = func.trim(CheckinAnswer.value)
    return case((CheckinAnswer.value.in_(_PLAIN_VALUES), False),
                (_PlainNumber(text), not_(cast(text, Float).between(0, 10))), else_=False)


def month_index(moment: Any, ends: Sequence[datetime]) -> Any:
    """Return SQL: the index of the first of `ends` after `moment`, or NULL (a CASE tree)."""

    def between(low: int, high: int) -> Any:
        if high - low == 1:
            return literal(low)
        middle = (low + high) // 2
        return case((moment < ends[middle - 1], between(low, middle)),
                    else_=between(middle, high))
    return case((moment < ends[-1], between(0, len(ends))), else_=None)


def _peg_literal() -> TextClause:
    """Return is_peg_answer() as the SQL text of the PEG runs index (so the index serves it)."""
    return text(PEG_ANSWER)


def _runs(participant_ids: Sequence[int], ends: Sequence[datetime]) -> Any:
    """Return a CTE: each run's PEG answers counted, coded by item, summed, and its month."""
    a = CheckinAnswer
    code = case(*((a.variable == item, value) for item, value in _ITEM_CODES.items()), else_=0)
    total = case((a.value.in_(_PLAIN_VALUES), cast(a.value, Float)), else_=1000.0)
    at = func.max(a.answered_at)
    return (select(a.participant_id, a.run_id, func.count().label("n"), at.label("at"),
                   month_index(at, ends).label("month"), func.sum(code).label("code"),
                   func.sum(total).label("total"))
            .where(a.participant_id.in_(participant_ids), _peg_literal(), not_(_skipped()))
            .group_by(a.participant_id, a.run_id)
            .cte("peg_runs"))


def _latest_by_month(participant_ids: Sequence[int], ends: Sequence[datetime]) -> Any:
    """Return a select: each month's latest complete runs (two on a tie), then the misfits."""
    r = _runs(participant_ids, ends).c
    # A run of plain values is the check-in checkins() makes of it when its three answers
    # are the three items spelled as the flows do (another spelling adds nothing to `code`);
    # with fewer answers it is incomplete either way. Anything else may hide a check-in.
    plain = and_(r.run_id.is_not(None), r.total < 1000,
                 or_(r.n < 3, and_(r.n == 3, r.code == _COMPLETE)))
    ranked = (select(r.participant_id, r.month, r.total,
                     func.rank().over(partition_by=(r.participant_id, r.month),
                                      order_by=r.at.desc()).label("rank"))
              .where(plain, r.n == 3, r.month.is_not(None))
              .subquery("peg_ranked"))
    k = ranked.c
    return (select(k.participant_id, k.month, k.total).where(k.rank == 1)
            .union_all(select(r.participant_id, null(), null()).where(not_(plain))))


def latest_scores(session: Session, participants: Sequence[Any],
                  ends: Sequence[datetime]) -> dict[int, list[float | None]]:
    """Return each veteran's latest complete PEG score before each of `ends` (ascending).

    `participants` are Participants, or rows with their `id` and `timezone`.
    """
    found: dict[int, list[float | None]] = {p.id: [None] * len(ends) for p in participants}
    if not found or not ends:
        return found
    misfits: set[int] = set()
    for participant_id, month, total in session.execute(_latest_by_month(list(found), ends)):
        months = found[participant_id]
        if month is None or months[month] is not None:  # a misfit, or two runs ending at once
            misfits.add(participant_id)
        else:
            months[month] = round(total / 3, 1)
    for months in found.values():  # a month without a check-in keeps the one before
        for index in range(1, len(months)):
            if months[index] is None:
                months[index] = months[index - 1]
    slow = [p for p in participants if p.id in misfits]
    raw = answers(session, [p.id for p in slow]) if slow else {}
    for person in slow:
        scored = [c for c in checkins(raw[person.id], person.timezone) if c.complete]
        at = [c.at for c in scored]
        found[person.id] = [_checkin_score(scored[n - 1]) if (n := bisect_left(at, end))
                            else None for end in ends]
    return found


def _checkin_score(checkin: Checkin) -> float:
    """Return a complete check-in's score, as PegScore.score does."""
    values = checkin.values
    return round((values["pain"] + values["enjoyment"] + values["activity"]) / 3, 1)
