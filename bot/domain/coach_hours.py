"""A coach's quiet hours (SPEC §11): when a non-urgent text to a coach may leave.

Rules:
- `[program] coach_quiet_hours` (empty = the veterans' `quiet_hours`), read in
  the coach's own time zone (`Coach.timezone`).
- The sender (bot/sending/claims.py) is the one place that holds a coach-bound
  outbox row until then; writers only mark such rows `respect_quiet_hours`
  (crisis alerts never are). Others may ask when a text would leave, to say so.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.config import Config
from bot.core.durations import QuietHours, quiet_hours_end


def coach_quiet(config: Config) -> QuietHours:
    """Return the coaches' quiet hours, e.g. 20:00-09:00."""
    return config.program.coach_quiet_hours or config.program.quiet_hours


def coach_leaves(config: Config, timezone: str, when: datetime) -> datetime:
    """Return when a non-urgent text to a coach in `timezone` queued at `when` leaves."""
    return quiet_hours_end(coach_quiet(config), when, timezone)
