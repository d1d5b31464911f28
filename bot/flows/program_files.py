"""Load and check the program files in flows/ that are not flows: strategies and nudge schedules.

`flows/strategies.yaml` — the strategy library::

    strategies:
      - id: pacing                 # lower case, digits, _; unique
        name: Pacing               # what the veteran sees
        description: Break tasks into chunks and rest before pain stops you.   # one line
        reminders: ["...", "...", "...", "..."]    # at least 4 texts

`flows/nudges.yaml` — nudge schedules drafted into the coach's approval queue::

    schedules:
      - id: encouragement
        cron: "0 11 * * TUE,FRI"   # participant local time, five fields
        reason: Twice-weekly encouragement     # shown to the coach
        texts: ["...", "..."]      # at least 2; or instead: from_strategies: true
        max_late: 6h               # optional, default 12h (SPEC §6.7)
        enabled: true              # optional

Texts are Jinja2 templates with only `participant`, `coach` and `program` in scope;
render them with `render()`. A file that is absent means no strategies / no schedules.

Accessors (for the scheduler):
- `load_strategies(flows_dir) -> dict[str, Strategy]` (file order);
  `Strategy(id, name, description, reminders: tuple[str, ...], line)`.
- `load_nudge_schedules(flows_dir) -> tuple[NudgeSchedule, ...]` (enabled ones only);
  `NudgeSchedule(id, cron, reason, texts, from_strategies, max_late: timedelta, enabled, line)`.
- `pick_text(texts, last_text, seed)` / `pick_reminder(strategies, chosen_ids, last_text, seed)`
  / `pick_for(schedule, strategies, chosen_ids, last_text, seed)`: a deterministic choice for a
  seed (use e.g. f"{schedule.id}:{participant.id}:{occurrence.isoformat()}" so a repeated tick
  drafts the same text) that never equals `last_text`, raw or rendered; None when nothing fits
  (no strategies chosen, or the only candidate was sent last time).
- `ProgramCache(flows_dir)`: reloads edited files, keeps the last valid version on a bad edit.
- `load_strategies` and `check` remember their result per folder until a file's modification
  time, size or inode changes (bot/flows/mtime_cache.py; pages call them per request and
  parsing YAML costs milliseconds).
Both loaders raise `ProgramFileError` (its `.problems` are `FILE:LINE: message`) on invalid files.
`check(flows_dir) -> list[str]` is what `peerline flows check` adds to its own problems.
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from croniter import croniter
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.core.durations import parse_duration
from bot.flows.cron import cron_problem
from bot.flows.mtime_cache import Stamp, remember, stamp
from bot.flows.program_yaml import check_mapping, load_yaml, text_field, texts_field, top_list
from bot.flows.templates import compiled_template
from bot.flows.yamlio import Report, hint, item_line, key_line

if TYPE_CHECKING:  # bot.services imports this module (FlowStore / ProgramCache)
    from bot.services import Services

log = logging.getLogger(__name__)

STRATEGIES_FILE = "strategies.yaml"
NUDGES_FILE = "nudges.yaml"
PROGRAM_FILES = (STRATEGIES_FILE, NUDGES_FILE)  # the flow loader skips these
NOT_FLOWS = frozenset({"safety.yaml", *PROGRAM_FILES})  # files in flows/ that are not flows
MIN_REMINDERS = 4
MIN_TEXTS = 2
DEFAULT_MAX_LATE = timedelta(hours=12)
RECHECK_EVERY = 1.0  # seconds between looks at the program files' stamps
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_TEMPLATE_PART = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


@dataclass(frozen=True)
class Strategy:
    """One pain self-management strategy and its reminder texts."""

    id: str
    name: str
    description: str
    reminders: tuple[str, ...]
    line: int = 0


@dataclass(frozen=True)
class NudgeSchedule:
    """A staff-configured schedule that drafts nudges for coach approval."""

    id: str
    cron: str
    reason: str
    texts: tuple[str, ...] = ()
    from_strategies: bool = False
    max_late: timedelta = DEFAULT_MAX_LATE
    enabled: bool = True
    line: int = 0


class ProgramFileError(ValueError):
    """A program file is invalid; `.problems` lists `FILE:LINE: message` strings."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _items(items: CommentedSeq | None, report: Report, kind: str,
           keys: Sequence[str]) -> Iterator[tuple[CommentedMap, str, int]]:
    """Yield (item, id, line) for each well-formed, uniquely named item of a top-level list."""
    seen: dict[str, int] = {}
    for i, item in enumerate(items or []):
        line = item_line(items, i)
        if not check_mapping(item, report, line, f"{kind} {i + 1}", keys):
            continue
        sid = item.get("id")
        if not isinstance(sid, str) or not _ID.match(sid):
            report.add(key_line(item, "id"), f"{kind} {i + 1} needs an `id` in lower case "
                       f"letters, digits and _ (got {sid!r})")
        elif sid in seen:
            report.add(key_line(item, "id"), f"duplicate {kind} id {sid!r} (first on line "
                       f"{seen[sid]})")
        else:
            seen[sid] = line
            yield item, sid, line


def _parse_strategies(path: Path, problems: list[str]) -> dict[str, Strategy]:
    report = Report(str(path))
    items = top_list(load_yaml(path, report), "strategies", path, report)
    library: dict[str, Strategy] = {}
    for item, sid, line in _items(items, report, "strategy",
                                  ["id", "name", "description", "reminders"]):
        what = f"strategy {sid!r}"
        name = text_field(item, "name", report, what, one_line=True, max_len=40)
        description = text_field(item, "description", report, what, one_line=True, max_len=160)
        reminders = texts_field(item, "reminders", report, what, MIN_REMINDERS)
        library[sid] = Strategy(sid, name, description, tuple(reminders), line)
    problems.extend(str(problem) for problem in report.problems)
    return library


def _parse_schedules(path: Path, problems: list[str],
                     library: Mapping[str, Strategy] | None) -> tuple[NudgeSchedule, ...]:
    report = Report(str(path))
    items = top_list(load_yaml(path, report), "schedules", path, report)
    out: list[NudgeSchedule] = []
    keys = ["id", "cron", "reason", "texts", "from_strategies", "max_late", "enabled"]
    for item, sid, line in _items(items, report, "schedule", keys):
        what = f"schedule {sid!r}"
        cron = text_field(item, "cron", report, what, one_line=True, max_len=100)
        if cron and (len(cron.split()) != 5 or not croniter.is_valid(cron)):
            why = cron_problem(cron)
            report.add(key_line(item, "cron"), f"{what}: bad cron {cron!r}"
                       + (f": {why}" if why else "") + "; write five fields: "
                       "minute hour day-of-month month day-of-week, e.g. \"0 11 * * TUE,FRI\"")
        reason = text_field(item, "reason", report, what, one_line=True, max_len=200)
        max_late = DEFAULT_MAX_LATE
        if "max_late" in item:
            try:
                max_late = parse_duration(str(item["max_late"]))
            except ValueError as exc:
                report.add(key_line(item, "max_late"), f"{what}: `max_late`: {exc}")
        flags = {}
        for flag in ("from_strategies", "enabled"):
            value = item.get(flag, flag == "enabled")
            if not isinstance(value, bool):
                report.add(key_line(item, flag), f"{what}: `{flag}` must be true or false")
                value = flag == "enabled"
            flags[flag] = value
        texts: list[str] = []
        if flags["from_strategies"] and "texts" in item:
            report.add(key_line(item, "texts"), f"{what} has both `texts` and "
                       "`from_strategies: true`; keep one")
        elif flags["from_strategies"]:
            if library is not None and not library:
                report.add(key_line(item, "from_strategies"), f"{what} draws from strategies "
                           f"but there is no valid {STRATEGIES_FILE} with strategies in it")
        elif "texts" in item:
            texts = texts_field(item, "texts", report, what, MIN_TEXTS)
        else:
            report.add(line, f"{what} needs `texts:` (a list) or `from_strategies: true`")
        out.append(NudgeSchedule(sid, cron, reason, tuple(texts), flags["from_strategies"],
                                 max_late, flags["enabled"], line))
    problems.extend(str(problem) for problem in report.problems)
    return tuple(out)


def _check_pick_flows(flows_dir: Path, library: Mapping[str, Strategy],
                      problems: list[str]) -> None:
    """Check that flow steps saving `participant.strategies` offer exactly the library's ids."""
    for path in sorted(flows_dir.glob("*.yaml")):
        if path.name in NOT_FLOWS:
            continue
        data = load_yaml(path, Report(str(path)))  # a flow's own problems: the flows check
        steps = data.get("steps") if isinstance(data, CommentedMap) else None
        if not isinstance(steps, CommentedMap):
            continue
        for step_id, step in steps.items():
            if not isinstance(step, CommentedMap) or step.get("save") != "participant.strategies":
                continue
            expect = step.get("expect")
            options = expect.get("options") if isinstance(expect, CommentedMap) else None
            if not isinstance(options, CommentedMap):
                continue  # the flow validator reports a malformed `expect`
            for key in options:
                if key not in library:
                    problems.append(f"{path}:{key_line(options, key)}: option {key!r} of step "
                                    f"{step_id!r} is not a strategy id in {STRATEGIES_FILE}"
                                    f"{hint(str(key), library)}")
            for sid, strategy in library.items():
                if sid not in options:
                    problems.append(f"{flows_dir / STRATEGIES_FILE}:{strategy.line}: strategy "
                                    f"{sid!r} is not offered by step {step_id!r} of {path.name}")


def check(flows_dir: str | Path) -> list[str]:
    """Return every problem in the strategy library and nudge schedules as `FILE:LINE: message`."""
    folder = Path(flows_dir)
    return list(remember("check", folder, sorted(folder.glob("*.yaml")),
                         lambda: _check(folder)))


def _check(folder: Path) -> list[str]:
    problems: list[str] = []
    library: dict[str, Strategy] | None = None
    if (folder / STRATEGIES_FILE).exists():
        before = len(problems)
        library = _parse_strategies(folder / STRATEGIES_FILE, problems)
        if len(problems) == before and library:
            _check_pick_flows(folder, library, problems)
    if (folder / NUDGES_FILE).exists():
        _parse_schedules(folder / NUDGES_FILE, problems, library if library is not None else {})
    return sorted(problems, key=_problem_order)


def _problem_order(problem: str) -> tuple[str, int]:
    file, line, _ = problem.split(":", 2)
    return file, int(line)


def load_strategies(flows_dir: str | Path) -> dict[str, Strategy]:
    """Return the strategy library by id; {} when there is no file; ProgramFileError if invalid."""
    path = Path(flows_dir) / STRATEGIES_FILE
    found = remember("strategies", path.parent, [path], lambda: _read_strategies(path))
    if isinstance(found, ProgramFileError):
        raise ProgramFileError(found.problems)
    return dict(found)


def _read_strategies(path: Path) -> dict[str, Strategy] | ProgramFileError:
    if not path.exists():
        return {}
    problems: list[str] = []
    library = _parse_strategies(path, problems)
    return ProgramFileError(problems) if problems else library


def load_nudge_schedules(flows_dir: str | Path) -> tuple[NudgeSchedule, ...]:
    """Return the enabled nudge schedules; () when there is no file; ProgramFileError if invalid."""
    folder = Path(flows_dir)
    path = folder / NUDGES_FILE
    if not path.exists():
        return ()
    problems: list[str] = []
    library = _parse_strategies(folder / STRATEGIES_FILE, []) \
        if (folder / STRATEGIES_FILE).exists() else {}
    schedules = _parse_schedules(path, problems, library)
    if problems:
        raise ProgramFileError(problems)
    return tuple(s for s in schedules if s.enabled)


def _squash(text: str) -> str:
    return " ".join(text.split())


def same_text(template: str, text: str | None) -> bool:
    """Tell whether `text` is `template` itself or a rendering of it (whitespace-insensitive)."""
    if text is None:
        return False
    template, text = _squash(template), _squash(text)
    if template == text:
        return True
    literal = _TEMPLATE_PART.split(template)
    pattern = ".*?".join(re.escape(part) for part in literal)
    return re.fullmatch(pattern, text, re.DOTALL) is not None


def pick_text(texts: Sequence[str], last_text: str | None, seed: int | str) -> str | None:
    """Choose one of `texts` for `seed`, never the one sent last; None when none is left."""
    candidates = [t for t in dict.fromkeys(texts) if not same_text(t, last_text)]
    return random.Random(seed).choice(candidates) if candidates else None


def pick_reminder(strategies: Mapping[str, Strategy], chosen_ids: Iterable[str],
                  last_text: str | None, seed: int | str) -> str | None:
    """Choose a reminder from the chosen strategies, never `last_text`; None if nothing fits."""
    chosen = [strategies[sid] for sid in dict.fromkeys(chosen_ids) if sid in strategies]
    if not chosen:
        return None
    rng = random.Random(seed)
    rng.shuffle(chosen)
    for strategy in chosen:  # spread reminders across strategies, not by their text count
        text = pick_text(strategy.reminders, last_text, f"{seed}:{strategy.id}")
        if text is not None:
            return text
    return None


def pick_for(schedule: NudgeSchedule, strategies: Mapping[str, Strategy],
             chosen_ids: Iterable[str], last_text: str | None, seed: int | str) -> str | None:
    """Choose the text a schedule drafts for one participant (None: draft nothing)."""
    if schedule.from_strategies:
        return pick_reminder(strategies, chosen_ids, last_text, seed)
    return pick_text(schedule.texts, last_text, seed)


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render a program text in the sandbox; an undefined name raises jinja2.UndefinedError."""
    return str(compiled_template(template).render(**context)).strip()


class ProgramCache:
    """Hold the last valid strategies and schedules, reloading files when they change.

    The files are looked at (stat) at most every `recheck_every` seconds: a text
    that reads the program's texts a week must not stat every file each time.
    """

    def __init__(self, flows_dir: str | Path, recheck_every: float = RECHECK_EVERY) -> None:
        self.flows_dir = Path(flows_dir)
        self.recheck_every = recheck_every
        self._stamp: Stamp | None = None
        self._checked = -math.inf
        self._strategies: dict[str, Strategy] = {}
        self._schedules: tuple[NudgeSchedule, ...] = ()

    def _refresh(self) -> None:
        checked = time.monotonic()
        if checked - self._checked < self.recheck_every:
            return
        self._checked = checked
        now = stamp(self.flows_dir / name for name in PROGRAM_FILES)
        if now == self._stamp:
            return
        try:
            strategies = load_strategies(self.flows_dir)
            schedules = load_nudge_schedules(self.flows_dir)
        except ProgramFileError as exc:
            log.error("program files invalid; keeping the last valid version: %s",
                      "; ".join(exc.problems))
        else:
            self._strategies, self._schedules = strategies, schedules
        self._stamp = now

    def strategies(self) -> dict[str, Strategy]:
        """Return the current strategy library."""
        self._refresh()
        return self._strategies

    def schedules(self) -> tuple[NudgeSchedule, ...]:
        """Return the current enabled nudge schedules."""
        self._refresh()
        return self._schedules


def program_cache(services: Services) -> ProgramCache:
    """Return the services' ProgramCache (made on first use) for the configured flows folder."""
    cache = services.program_cache
    if cache is None:
        cache = services.program_cache = ProgramCache(services.config.flows.dir)
    return cast(ProgramCache, cache)
