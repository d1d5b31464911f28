"""Turn one flow file into a Flow, reporting every structural problem with its line."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.core.durations import parse_duration
from bot.flows.model import (
    DEFAULT_EXPIRE,
    PROVIDED,
    SETTABLE_STATUSES,
    Branch,
    Expect,
    Flow,
    NudgeSpec,
    Problem,
    Step,
    TimeoutSpec,
)
from bot.flows.triggers import Trigger, parse_trigger
from bot.flows.yamlio import Report, check_keys, item_line, key_line, load_yaml_text, node_line

TOP_KEYS = ("id", "name", "description", "trigger", "start", "expire_after", "steps")
STEP_KEYS = ("say", "expect", "save", "invalid", "retries", "on_invalid", "timeout", "next",
             "notify_coach", "escalate", "nudge", "start_flow", "set_status")
EXPECT_KEYS = ("type", "min", "max", "options", "multiple", "max_length")
EXPECT_TYPES = ("number", "choice", "yesno", "text")
TIMEOUT_KEYS = ("after", "go")
NUDGE_KEYS = ("say", "in", "max_late")
BRANCH_KEYS = ("when", "go")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
STEP_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
PARTICIPANT_BUILTINS = frozenset({"id", "name", "first_name", "phone", "timezone", "fields",
                                  "status"})


def content_version(data: bytes) -> str:
    """Return the version id of a file's content."""
    return hashlib.sha256(data).hexdigest()[:16]


def _text(value: Any, line: int, what: str, report: Report) -> str | None:
    if isinstance(value, str) and value.strip():
        return str(value)
    report.add(line, f"{what} must be non-empty text")
    return None


def _duration(value: Any, line: int, what: str, report: Report) -> timedelta | None:
    try:
        delta = parse_duration(str(value))
    except ValueError as exc:
        report.add(line, f"{what}: {exc}")
        return None
    if delta <= timedelta(0):
        report.add(line, f"{what}: must be longer than 0")
        return None
    return delta


def _step_ref(value: Any, line: int, what: str, report: Report) -> str | None:
    if isinstance(value, str) and value:
        return str(value)
    report.add(line, f"{what} must be a step id")
    return None


def _number(value: Any, line: int, what: str, report: Report) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        report.add(line, f"{what} must be a number")
        return None
    if not -1e9 <= value <= 1e9:  # also .inf, .nan and ints too big for a float
        report.add(line, f"{what} must be a number no bigger than 1000000000")
        return None
    return float(value)


def _expect(node: Any, line: int, report: Report) -> Expect | None:
    if isinstance(node, str):  # shorthand: `expect: yesno`
        node = {"type": node}
    if not isinstance(node, dict):
        report.add(line, "expect must be a mapping like {type: number, min: 0, max: 10}")
        return None
    check_keys(node, EXPECT_KEYS, "expect", report)
    kind = node.get("type")
    if kind not in EXPECT_TYPES:
        report.add(key_line(node, "type") if "type" in node else line,
                   f"expect type must be one of {', '.join(EXPECT_TYPES)}, not {kind!r}")
        return None
    low = _number(node["min"], key_line(node, "min"), "min", report) if "min" in node else None
    high = _number(node["max"], key_line(node, "max"), "max", report) if "max" in node else None
    if low is not None and high is not None and low > high:
        report.add(key_line(node, "min"), f"min {low:g} is above max {high:g}")
    options: list[tuple[str, tuple[str, ...]]] = []
    raw = node.get("options")
    if kind == "choice":
        if isinstance(raw, list):
            raw = {str(v): [] for v in raw}
        if not isinstance(raw, dict) or not raw:
            report.add(key_line(node, "options") if "options" in node else line,
                       "a choice needs options: {value: [synonyms...]}")
        else:
            for value, synonyms in raw.items():
                if synonyms is None:
                    synonyms = []
                if isinstance(synonyms, str | int):
                    synonyms = [synonyms]
                if not isinstance(synonyms, list):
                    report.add(key_line(raw, value), f"synonyms of option '{value}' must be a list")
                    continue
                options.append((str(value), tuple(str(s) for s in synonyms)))
    elif raw is not None:
        report.add(key_line(node, "options"), f"options only apply to type choice, not {kind}")
    multiple = node.get("multiple", False)
    if not isinstance(multiple, bool):
        report.add(key_line(node, "multiple"), "multiple must be true or false")
        multiple = False
    if multiple and kind != "choice":
        report.add(key_line(node, "multiple"), "multiple only applies to type choice")
    max_length = node.get("max_length")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        report.add(key_line(node, "max_length"), "max_length must be a whole number above 0")
        max_length = None
    return Expect(type=str(kind), min=low, max=high, options=tuple(options),
                  multiple=bool(multiple), max_length=max_length)


def _next(node: Any, line: int, report: Report) -> tuple[Branch, ...]:
    if isinstance(node, str):
        return (Branch(go=node, line=line),)
    if not isinstance(node, list) or not node:
        report.add(line, "next must be a step id or a list of {when, go}")
        return ()
    branches: list[Branch] = []
    for index, item in enumerate(node):
        at = item_line(node, index)
        if not isinstance(item, dict):
            report.add(at, "each entry of next must be {when: EXPRESSION, go: STEP}")
            continue
        check_keys(item, BRANCH_KEYS, "next", report)
        when = item.get("when")
        if "when" in item and not (isinstance(when, str) and when.strip()):
            report.add(key_line(item, "when"), "when must be an expression, e.g. \"pain >= 8\"")
            when = None
        if when is None and index != len(node) - 1:
            report.add(at, "only the last entry of next may have no `when`")
        go = _step_ref(item.get("go"), key_line(item, "go") if "go" in item else at,
                       "go", report)
        if go is not None:
            branches.append(Branch(go=go, when=str(when) if when else None, line=at))
    return tuple(branches)


def _save(value: Any, line: int, report: Report) -> str | None:
    if not isinstance(value, str):
        report.add(line, "save must be a variable name")
        return None
    name = str(value)
    if name.startswith("participant."):
        field = name.split(".", 1)[1]
        if not NAME.match(field) or field in PARTICIPANT_BUILTINS:
            report.add(line, f"cannot save into participant.{field}; choose another field name")
            return None
        return name
    if not NAME.match(name):
        report.add(line, f"save name {name!r} must be letters, digits and _ (e.g. pain_score)")
        return None
    if name in PROVIDED:
        report.add(line, f"save name {name!r} is reserved")
        return None
    return name


def _say(node: Any, line: int, report: Report) -> tuple[str, ...]:
    if isinstance(node, list) and node:
        return tuple(t for i, v in enumerate(node)
                     if (t := _text(v, item_line(node, i), "say", report)) is not None)
    text = _text(node, line, "say", report)
    return (text,) if text is not None else ()


def _step(step_id: str, node: Any, line: int, report: Report) -> Step | None:
    if not isinstance(node, dict):
        report.add(line, f"step '{step_id}' must be a mapping of step keys")
        return None
    check_keys(node, STEP_KEYS, f"step '{step_id}'", report)
    at = {key: key_line(node, key) for key in node}
    fields: dict[str, Any] = {}
    if "say" in node:
        fields["say"] = _say(node["say"], at["say"], report)
    if "expect" in node:
        fields["expect"] = _expect(node["expect"], at["expect"], report)
    if "save" in node:
        fields["save"] = _save(node["save"], at["save"], report)
    for key in ("invalid", "notify_coach", "escalate"):
        if key in node:
            fields[key] = _text(node[key], at[key], key, report)
    for key in ("on_invalid", "start_flow"):
        if key in node:
            fields[key] = _step_ref(node[key], at[key], key, report)
    if "retries" in node:
        retries = node["retries"]
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            report.add(at["retries"], "retries must be a whole number from 0 to 10")
        else:
            fields["retries"] = retries
    if "timeout" in node:
        fields["timeout"] = _timeout(node["timeout"], at["timeout"], report)
    if "next" in node:
        fields["next"] = _next(node["next"], at["next"], report)
    if "nudge" in node:
        fields["nudge"] = _nudge(node["nudge"], at["nudge"], report)
    if "set_status" in node:
        if node["set_status"] in SETTABLE_STATUSES:
            fields["set_status"] = str(node["set_status"])
        else:
            report.add(at["set_status"], f"set_status must be one of "
                       f"{', '.join(SETTABLE_STATUSES)}, not {node['set_status']!r}")
    _combination_rules(step_id, node, at, line, report)
    return Step(id=step_id, line=line, lines=MappingProxyType(at),
                **{k: v for k, v in fields.items() if v is not None})


def _combination_rules(step_id: str, node: Any, at: dict[str, int], line: int,
                       report: Report) -> None:
    for key in ("save", "invalid", "retries", "on_invalid", "timeout"):
        if key in node and "expect" not in node:
            report.add(at[key], f"{key} needs an expect in the same step")
    if "start_flow" in node:
        for key in ("expect", "next"):
            if key in node:
                report.add(at[key], f"a step with start_flow hands over; it cannot also {key}")
    if not any(key in node for key in ("say", "expect", "notify_coach", "escalate", "nudge",
                                       "start_flow", "next", "set_status")):
        report.add(line, f"step '{step_id}' does nothing; give it a say or another action")


def _timeout(node: Any, line: int, report: Report) -> TimeoutSpec | None:
    if not isinstance(node, dict):
        report.add(line, "timeout must be {after: DURATION, go: STEP}")
        return None
    check_keys(node, TIMEOUT_KEYS, "timeout", report)
    if "after" not in node or "go" not in node:
        report.add(line, "timeout needs both after and go")
        return None
    after = _duration(node["after"], key_line(node, "after"), "timeout after", report)
    go = _step_ref(node["go"], key_line(node, "go"), "timeout go", report)
    if after is None or go is None:
        return None
    return TimeoutSpec(after=after, go=go, line=key_line(node, "go"))


def _nudge(node: Any, line: int, report: Report) -> NudgeSpec | None:
    if not isinstance(node, dict):
        report.add(line, "nudge must be {say: TEMPLATE, in: DURATION}")
        return None
    check_keys(node, NUDGE_KEYS, "nudge", report)
    say = _text(node.get("say"), key_line(node, "say") if "say" in node else line,
                "nudge say", report)
    delay = (_duration(node["in"], key_line(node, "in"), "nudge in", report)
             if "in" in node else timedelta(0))
    max_late = (_duration(node["max_late"], key_line(node, "max_late"), "nudge max_late", report)
                if "max_late" in node else None)
    if say is None or delay is None:
        return None
    return NudgeSpec(say=say, delay=delay, max_late=max_late)


def parse_flow(path: Path, data: bytes, report: Report) -> Flow | None:
    """Build the Flow in `data` (the bytes of `path`); None if it is not usable."""
    before = len(report.problems)
    doc = load_yaml_text(data.decode("utf-8", errors="replace"), report)
    if doc is None:
        if len(report.problems) == before:  # empty, only comments, or a bare null
            report.add(1, "the file is empty; a flow needs at least id, start and steps")
        return None
    if not isinstance(doc, dict):
        report.add(node_line(doc), "a flow file must be a mapping with id, start and steps")
        return None
    check_keys(doc, TOP_KEYS, "the flow", report)
    lines: dict[str, int] = {key: key_line(doc, key) for key in doc}
    flow_id = doc.get("id")
    if not isinstance(flow_id, str) or not flow_id:
        report.add(lines.get("id", 1), "missing id (it must equal the file name without .yaml)")
        flow_id = path.stem
    elif flow_id != path.stem:
        report.add(lines["id"], f"id '{flow_id}' must equal the file name '{path.stem}'")
    trigger = Trigger()
    if "trigger" in doc:
        trigger = parse_trigger(doc["trigger"], lines["trigger"], report)
        lines.update(trigger.lines)
    expire = DEFAULT_EXPIRE
    if "expire_after" in doc:
        expire = _duration(doc["expire_after"], lines["expire_after"], "expire_after",
                           report) or DEFAULT_EXPIRE
    steps: dict[str, Step] = {}
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, dict) or not raw_steps:
        report.add(lines.get("steps", 1), "missing steps (a mapping of step id to step)")
    else:
        for step_id, node in raw_steps.items():
            at = key_line(raw_steps, step_id)
            if not isinstance(step_id, str) or not STEP_ID.match(step_id):
                report.add(at, f"step id {step_id!r} must be letters, digits, _ or -")
                continue
            step = _step(step_id, node, at, report)
            if step is not None:
                steps[step_id] = step
    start = doc.get("start")
    if not isinstance(start, str) or not start:
        report.add(lines.get("start", 1), "missing start (the id of the first step)")
        start = ""
    name = doc.get("name")
    return Flow(id=str(flow_id), path=report.path, version=content_version(data),
                start=str(start), steps=MappingProxyType(steps),
                name=str(name) if isinstance(name, str) else str(flow_id),
                keywords=trigger.keywords, schedule=trigger.schedule,
                schedule_statuses=trigger.statuses, on_enrolled=trigger.enrolled,
                program_weeks=trigger.program_weeks, on_program_end=trigger.program_end,
                expire_after=expire,
                lines=MappingProxyType(lines))


def problems_of(path: Path) -> tuple[Flow | None, list[Problem]]:
    """Load and structurally check one flow file."""
    report = Report(str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        report.add(1, f"cannot read the file: {exc}")
        return None, report.problems
    return parse_flow(path, data, report), report.problems
