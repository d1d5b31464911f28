"""Say what is wrong with a cron expression, field by field, in staff's words.

Rules: five fields, minute hour day-of-month month day-of-week; each field
is `*`, a value, a range `a-b`, a list `a,b` or a step `*/n`, `a-b/n`.
The answer names the field and its range ("hour 25 is out of range 0-23").
croniter stays the judge of validity; this only explains.
"""

from __future__ import annotations

import re

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
          ("month", 1, 12, MONTHS), ("day of week", 0, 7, DAYS))
_PART = re.compile(r"^(?P<range>\*|[^-/]+(?:-[^-/]+)?)(?:/(?P<step>.*))?$")


def _value(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    word = text.strip().upper()
    if names and word in names:
        return None
    if not word.isdigit():
        known = f" or a name like {names[0]}, {names[1]}" if names else ""
        return f"{name} {text!r} is not a number{known}"
    if not low <= int(word) <= high:
        shown = "0-6 (Sunday is 0 or 7)" if name == "day of week" else f"{low}-{high}"
        return f"{name} {int(word)} is out of range {shown}"
    return None


def _field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    for part in text.split(","):
        match = _PART.match(part)
        if not part or match is None:
            return f"{name} {part!r} is not a value, a range like 1-5 or a step like */15"
        step = match.group("step")
        if step is not None and (not step.isdigit() or int(step) == 0):
            return f"{name} step {step!r} must be a whole number above 0, as in */15"
        if match.group("range") == "*":
            continue
        ends = match.group("range").split("-")
        for end in ends:
            problem = _value(end, name, low, high, names)
            if problem:
                return problem
    return None


def cron_problem(expression: str) -> str:
    """Return what is wrong with `expression` (empty if no field-level problem was found)."""
    fields = expression.split()
    if len(fields) != 5:
        return (f"it has {len(fields)} field{'s' if len(fields) != 1 else ''}, not 5 "
                "(minute hour day-of-month month day-of-week)")
    for text, (name, low, high, names) in zip(fields, FIELDS, strict=True):
        problem = _field(text, name, low, high, names)
        if problem:
            return problem
    return ""
