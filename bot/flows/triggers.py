"""Read a flow's `trigger:` mapping: what starts the flow.

Rules:
- `keywords`: whole-message words (normalised; STOP/START/HELP words are reserved).
- `schedule`: a cron in the participant's local time; `statuses` (default
  [active]) says whose: `maintenance` is for veterans past their program who
  chose monthly check-ins.
- `enrolled: true`: started at enrolment. `program_week: N` (or a list):
  started once in week N of the participant's program. `program_end: true`:
  started once when the program ends. bot.program_arc starts these.
- Every problem is reported with its line; a bad entry is left out, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from croniter import croniter

from bot.flows.cron import cron_problem
from bot.flows.keywords import HELP_WORDS, START_WORDS, STOP_WORDS, normalize_keyword
from bot.flows.model import MAX_PROGRAM_WEEK, SCHEDULE_STATUSES
from bot.flows.yamlio import Report, check_keys, item_line, key_line

TRIGGER_KEYS = ("keywords", "schedule", "statuses", "enrolled", "program_week", "program_end")
RESERVED_KEYWORDS = STOP_WORDS | START_WORDS | HELP_WORDS


@dataclass
class Trigger:
    """What starts a flow, as read from its `trigger:` mapping."""

    keywords: tuple[str, ...] = ()
    schedule: str | None = None
    statuses: tuple[str, ...] = ("active",)
    enrolled: bool = False
    program_weeks: tuple[int, ...] = ()
    program_end: bool = False
    lines: dict[str, int] = field(default_factory=dict)


def _keywords(node: Any, trigger: Trigger, report: Report) -> None:
    raw = node["keywords"]
    trigger.lines["keywords"] = key_line(node, "keywords")
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        report.add(trigger.lines["keywords"], "keywords must be a list like [CHECKIN, PAIN]")
        items = []
    found: list[str] = []
    for index, word in enumerate(items):
        at = item_line(items, index) if isinstance(raw, list) else trigger.lines["keywords"]
        normal = normalize_keyword(str(word))
        if not normal:
            report.add(at, "a keyword must have letters or digits")
        elif normal in RESERVED_KEYWORDS:
            report.add(at, f"keyword {normal} is reserved for STOP/START/HELP")
        else:
            trigger.lines[f"keyword:{normal}"] = at
            found.append(normal)
    trigger.keywords = tuple(found)


def _flag(node: Any, key: str, report: Report) -> bool:
    if node[key] is True:
        return True
    if node[key] is not False:
        report.add(key_line(node, key), f"{key} must be true or false")
    return False


def _program_weeks(node: Any, report: Report) -> tuple[int, ...]:
    raw = node["program_week"]
    items = raw if isinstance(raw, list) else [raw]
    weeks = tuple(w for w in items if isinstance(w, int) and not isinstance(w, bool)
                  and 1 <= w <= MAX_PROGRAM_WEEK)
    if len(weeks) != len(items) or not items:
        report.add(key_line(node, "program_week"), "program_week must be a week number "
                   f"from 1 to {MAX_PROGRAM_WEEK}, or a list of them, like [4, 8]")
    return weeks


def parse_trigger(node: Any, line: int, report: Report) -> Trigger:
    """Return the trigger in `node`, reporting each problem with its line."""
    trigger = Trigger()
    if not isinstance(node, dict):
        report.add(line, "trigger must be a mapping with keywords, schedule, enrolled, "
                   "program_week or program_end")
        return trigger
    check_keys(node, TRIGGER_KEYS, "trigger", report)
    if node.get("keywords") is not None:
        _keywords(node, trigger, report)
    schedule = node.get("schedule")
    if schedule is not None:
        trigger.lines["schedule"] = key_line(node, "schedule")
        if not isinstance(schedule, str) or not croniter.is_valid(schedule):
            why = cron_problem(schedule) if isinstance(schedule, str) else ""
            report.add(trigger.lines["schedule"], f"bad cron expression {schedule!r}"
                       + (f": {why}" if why else "")
                       + "; write minute hour day month weekday, e.g. \"0 10 * * MON\"")
        else:
            trigger.schedule = schedule
    if "statuses" in node:
        raw = node["statuses"]
        items = raw if isinstance(raw, list) else [raw]
        if not items or any(item not in SCHEDULE_STATUSES for item in items):
            report.add(key_line(node, "statuses"), "statuses must list who the schedule "
                       f"starts for: {', '.join(SCHEDULE_STATUSES)}")
        elif schedule is None:
            report.add(key_line(node, "statuses"), "statuses goes with a schedule")
        else:
            trigger.statuses = tuple(str(item) for item in items)
    if "enrolled" in node:
        trigger.enrolled = _flag(node, "enrolled", report)
    if "program_end" in node:
        trigger.program_end = _flag(node, "program_end", report)
    if "program_week" in node:
        trigger.program_weeks = _program_weeks(node, report)
    return trigger
