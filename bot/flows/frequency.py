"""How many texts a week a veteran can expect (SPEC 12: the welcome says the real number).

Rules:
- Counted from what the program schedules for an active veteran: each scheduled
  flow's starts (`trigger.schedule` for active) and each enabled nudge schedule's
  drafts (texts a coach approves), per week, averaged over four weeks.
- Replies to the veteran's own texts are not counted: they are answers, not
  texts the program sends on its own.
- The cron arithmetic runs once per set of schedules (cached), not per text.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from croniter import croniter

from bot.flows.program_files import program_cache

if TYPE_CHECKING:  # bot.services imports this module (FlowStore / ProgramCache)
    from bot.services import Services

_WEEKS = 4
_FROM = datetime(2026, 1, 5)  # a Monday; local wall-clock times


@lru_cache(maxsize=64)
def per_week(crons: tuple[str, ...]) -> int:
    """Return how many times a week the crons fire together, on average (rounded)."""
    until = _FROM + timedelta(weeks=_WEEKS)
    fired = 0
    for cron in crons:
        it = croniter(cron, _FROM)
        while it.get_next(datetime) < until:
            fired += 1
    return round(fired / _WEEKS)


def texts_per_week(services: Services) -> int:
    """Return the number of texts a week the program sends an active veteran on its own."""
    crons: list[str] = []
    if services.flows is not None:
        crons += [str(flow.schedule) for flow in services.flows.scheduled()
                  if "active" in flow.schedule_statuses]
    crons += [schedule.cron for schedule in program_cache(services).schedules()]
    return per_week(tuple(sorted(crons)))
