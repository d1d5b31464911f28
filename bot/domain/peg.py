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
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from bot.domain.program_arc import week_of
from bot.flows.hard_week import PEG_ITEMS
from bot.models import CheckinAnswer, Participant


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
