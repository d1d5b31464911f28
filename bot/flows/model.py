"""The flow model: what a validated flow file means, as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

PROVIDED = frozenset({"participant", "coach", "program"})
DEFAULT_EXPIRE = timedelta(days=3)
DEFAULT_RETRIES = 1
# What a flow's `set_status` may move a participant to (bot.program_arc owns the column).
SETTABLE_STATUSES = ("maintenance", "completed")
# Statuses a scheduled flow may start for (`trigger.statuses`).
SCHEDULE_STATUSES = ("active", "maintenance")
MAX_PROGRAM_WEEK = 520


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file, printed as `FILE:LINE: message`."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Expect:
    """What a reply must be: number, choice, yesno or text."""

    type: str
    min: float | None = None
    max: float | None = None
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()
    multiple: bool = False
    max_length: int | None = None


@dataclass(frozen=True)
class Branch:
    """One `{when, go}` entry of `next` (`when` None: always)."""

    go: str
    when: str | None = None
    line: int = 0


@dataclass(frozen=True)
class TimeoutSpec:
    """`timeout: {after, go}`."""

    after: timedelta
    go: str
    line: int = 0


@dataclass(frozen=True)
class NudgeSpec:
    """`nudge: {say, in, max_late}`: a draft for coach approval."""

    say: str
    delay: timedelta
    max_late: timedelta | None = None


@dataclass(frozen=True)
class Step:
    """One step of a flow; `lines` maps each key to its line in the file."""

    id: str
    line: int
    say: tuple[str, ...] = ()
    expect: Expect | None = None
    save: str | None = None
    invalid: str | None = None
    retries: int = DEFAULT_RETRIES
    on_invalid: str | None = None
    timeout: TimeoutSpec | None = None
    next: tuple[Branch, ...] = ()
    notify_coach: str | None = None
    escalate: str | None = None
    nudge: NudgeSpec | None = None
    start_flow: str | None = None
    set_status: str | None = None
    lines: Any = field(default_factory=lambda: MappingProxyType({}))

    def line_of(self, key: str) -> int:
        """Return the line of `key` in this step, else the step's own line."""
        return int(self.lines.get(key, self.line))

    def targets(self) -> list[tuple[str, str, int]]:
        """Return (kind, step id, line) for every step this step can go to."""
        found = [("next", b.go, b.line or self.line_of("next")) for b in self.next]
        if self.timeout is not None:
            found.append(("timeout", self.timeout.go, self.timeout.line or self.line_of("timeout")))
        if self.on_invalid is not None:
            found.append(("on_invalid", self.on_invalid, self.line_of("on_invalid")))
        return found


@dataclass(frozen=True)
class Flow:
    """A validated flow file, identified by id and content hash (`version`)."""

    id: str
    path: str
    version: str
    start: str
    steps: Any  # Mapping[str, Step], read-only
    name: str = ""
    keywords: tuple[str, ...] = ()
    schedule: str | None = None
    schedule_statuses: tuple[str, ...] = ("active",)  # who the schedule starts for
    on_enrolled: bool = False
    program_weeks: tuple[int, ...] = ()
    on_program_end: bool = False
    expire_after: timedelta = DEFAULT_EXPIRE
    line: int = 1
    lines: Any = field(default_factory=lambda: MappingProxyType({}))

    def line_of(self, key: str) -> int:
        """Return the line of top-level `key`, else 1."""
        return int(self.lines.get(key, self.line))
