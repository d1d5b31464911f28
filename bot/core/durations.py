"""Parse durations ("30m", "24h", "3d") and quiet-hour windows ("20:00-09:00").

Rules:
- Settings are parsed once, when the configuration loads: quiet hours into a
  QuietHours value (`config.program.quiet_hours`), durations into a Duration
  (`config.safety.staff_after.delta`); the str() of each is the text it came
  from, so pages and messages show what staff wrote.
- A window whose start equals its end has no quiet hours; one that wraps
  midnight (20:00-09:00) is quiet from the start to the next day's end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_DURATION = timedelta(days=3650)  # longer would overflow a date, or is a typo
_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_duration(text: str) -> timedelta:
    """Return the timedelta for text like 30m, 24h, 3d; raise ValueError otherwise."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"bad duration {text!r}; write a number and a unit: 30m, 24h, 3d, 1w")
    try:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        delta = MAX_DURATION + timedelta(days=1)
    if delta > MAX_DURATION:
        raise ValueError(f"duration {text!r} is too long; write at most 3650d (about 10 years)")
    return delta


def parse_quiet_hours(text: str) -> tuple[time, time]:
    """Return (start, end) local times for text like 20:00-09:00; raise ValueError otherwise."""
    match = _QUIET.match(text)
    if not match:
        raise ValueError(f"bad quiet hours {text!r}; write HH:MM-HH:MM, e.g. 20:00-09:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"bad quiet hours {text!r}; hours 0-23, minutes 0-59")
    return time(h1, m1), time(h2, m2)


@dataclass(frozen=True)
class QuietHours:
    """A parsed quiet-hours window, in each person's local time."""

    start: time
    end: time
    text: str

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """Return the window for text like 20:00-09:00; raise ValueError otherwise."""
        start, end = parse_quiet_hours(text)
        return cls(start, end, text.strip())

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Duration:
    """A parsed duration setting: its timedelta and the text it came from."""

    delta: timedelta
    text: str

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Return the duration for text like 30m, 24h, 3d; raise ValueError otherwise."""
        return cls(parse_duration(text), text.strip())

    def __str__(self) -> str:
        return self.text


def in_quiet_hours(quiet: QuietHours, when: datetime, tz: str) -> bool:
    """Tell whether the aware instant `when` is inside quiet hours in zone `tz`."""
    start, end = quiet.start, quiet.end
    local = when.astimezone(ZoneInfo(tz)).time()
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end(quiet: QuietHours, when: datetime, tz: str) -> datetime:
    """Return `when` if outside quiet hours, else the first instant after they end (aware UTC)."""
    if not in_quiet_hours(quiet, when, tz):
        return when
    end = quiet.end
    zone = ZoneInfo(tz)
    local = when.astimezone(zone)
    candidate = datetime.combine(local.date(), end, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return candidate.astimezone(when.tzinfo)


def is_zone(name: str) -> bool:
    """Tell whether `name` is an IANA time zone, e.g. America/New_York."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
