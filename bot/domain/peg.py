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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
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


def history(session: Session, participant: Participant) -> list[PegScore]:
    """Return the participant's complete PEGs, oldest first."""
    runs: dict[object, dict[str, Any]] = {}  # by run; answers with no run, by their moment
    for run_id, variable, value, answered_at in session.execute(
            select(CheckinAnswer.run_id, CheckinAnswer.variable, CheckinAnswer.value,
                   CheckinAnswer.answered_at)
            .where(CheckinAnswer.participant_id == participant.id,
                   CheckinAnswer.variable.in_(PEG_ITEMS))
            .order_by(CheckinAnswer.id)):
        found = runs.setdefault(run_id if run_id is not None else answered_at, {})
        found[variable] = value
        found["at"] = answered_at
    scores = []
    for found in runs.values():
        items = _items(found)
        if items is not None:
            scores.append(PegScore(at=found["at"], week=week_of(participant, found["at"]),
                                   **items))
    return sorted(scores, key=lambda s: s.at)


def change_from_baseline(participant: Participant, latest: PegScore | None) -> float | None:
    """Return the latest score minus the baseline score (None without both)."""
    baseline = participant.peg_baseline or {}
    if latest is None or "score" not in baseline:
        return None
    return round(latest.score - float(baseline["score"]), 1)


PEG_COLUMNS = ["participant_id", "answered_at", "program_week", "pain", "enjoyment", "activity",
               "score", "baseline_score", "change_from_baseline"]


def peg_rows(session: Session) -> Iterator[list[Any]]:
    """Yield one export row per complete PEG, with its change from the veteran's baseline."""
    for participant in session.scalars(select(Participant).order_by(Participant.id)):
        baseline = (participant.peg_baseline or {}).get("score")
        for score in history(session, participant):
            yield [participant.id, score.at.isoformat(), score.week, _fmt(score.pain),
                   _fmt(score.enjoyment), _fmt(score.activity), _fmt(score.score),
                   "" if baseline is None else _fmt(float(baseline)),
                   "" if baseline is None else _fmt(round(score.score - float(baseline), 1))]


def _fmt(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
