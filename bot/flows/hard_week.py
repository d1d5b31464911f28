"""What a hard week is (SPEC 12): judged against the veteran's own PEG baseline, not one number.

Rules:
- The PEG is the three items `pain`, `enjoyment`, `activity` (0-10), saved under those names.
- A week is hard when any item is at least `points` above its baseline item, or at
  least `percent` percent above it (a baseline item of 0 uses points only; percent 0
  turns the percent rule off).
- Without a baseline (the first check-in is the baseline) no week is hard by this rule.
- Pure: no database; flows call it as `hard_week()` in a `when`, reading the run's
  answers, `participant.baseline` and `program.hard_week_points` / `hard_week_percent`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

PEG_ITEMS = ("pain", "enjoyment", "activity")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def is_hard_week(scores: Mapping[str, Any], baseline: Mapping[str, Any], points: float,
                 percent: float) -> bool:
    """Tell whether any PEG item in `scores` is far enough above its `baseline` item."""
    for item in PEG_ITEMS:
        now, base = _number(scores.get(item)), _number(baseline.get(item))
        if now is None or base is None:
            continue
        if now - base >= points:
            return True
        if percent > 0 and base > 0 and (now - base) / base * 100 >= percent:
            return True
    return False


@pass_context
def hard_week(context: Context) -> bool:
    """Tell whether this run's PEG answers make a hard week for this participant."""
    participant = context.get("participant") or {}
    program = context.get("program") or {}
    baseline = participant.get("baseline") if isinstance(participant, Mapping) else None
    if not isinstance(baseline, Mapping) or not baseline or not isinstance(program, Mapping):
        return False
    scores = {item: context.get(item) for item in PEG_ITEMS}
    return is_hard_week(scores, baseline, float(program.get("hard_week_points", 2)),
                        float(program.get("hard_week_percent", 30)))
