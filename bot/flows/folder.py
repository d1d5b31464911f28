"""Load a whole flows folder: every flow file, safety.yaml and the program-level files.

Rule: whatever a file holds, loading it gives problems (`FILE:LINE: message`),
never a traceback: an unexpected failure of a check is a problem at line 1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from bot.flows.attributes import attribute_problems
from bot.flows.loader import problems_of
from bot.flows.model import Flow, Problem
from bot.flows.program_files import NOT_FLOWS
from bot.flows.program_files import check as check_program_files
from bot.flows.safety import SafetyMatcher, load_safety
from bot.flows.validate import cross_check, validate_flow

log = logging.getLogger(__name__)
SAFETY_FILE = "safety.yaml"


def flow_files(folder: Path) -> list[Path]:
    """Return the flow files of `folder` (top-level *.yaml that are not program files)."""
    return sorted(p for p in folder.glob("*.yaml") if p.is_file() and p.name not in NOT_FLOWS)


@dataclass
class Folder:
    """Every flow of a folder with its problems; `valid` are the flows with none."""

    flows: list[Flow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    safety: SafetyMatcher | None = None
    safety_problems: list[Problem] = field(default_factory=list)

    def bad_paths(self) -> set[str]:
        """Return the paths that have at least one problem."""
        return {p.path for p in self.problems}

    def valid(self) -> list[Flow]:
        """Return the flows whose files have no problem."""
        bad = self.bad_paths()
        return [f for f in self.flows if f.path not in bad]


def load_folder(folder: Path, paths: list[Path] | None = None, *,
                safety: bool = True) -> Folder:
    """Load and validate the flow files of `folder` (or just `paths`), with safety.yaml."""
    result = Folder()
    for path in paths if paths is not None else flow_files(folder):
        try:
            flow, problems = problems_of(path)
            result.problems.extend(problems)
            if flow is not None:
                result.problems.extend(validate_flow(flow))
                result.flows.append(flow)
        except Exception as exc:  # noqa: BLE001 - a problem with a line, never a traceback
            result.problems.append(_unexpected(path, exc))
    try:
        result.problems.extend(cross_check(result.flows))
        result.problems.extend(attribute_problems(result.flows))
    except Exception as exc:  # noqa: BLE001
        result.problems.append(_unexpected(folder, exc))
    if not safety:  # a reader of the flows alone (exports) skips compiling the screen
        return result
    safety_path = folder / SAFETY_FILE
    if safety_path.exists():
        try:
            matcher, report = load_safety(safety_path)
            result.safety = matcher
            result.safety_problems = report.problems
        except Exception as exc:  # noqa: BLE001
            result.safety_problems = [_unexpected(safety_path, exc)]
    else:
        result.safety_problems = [Problem(str(safety_path), 1,
                                          "safety.yaml is missing; built-in crisis phrases apply")]
    return result


def _unexpected(path: Path, exc: Exception) -> Problem:
    log.warning("checking %s failed unexpectedly: %s: %s", path, type(exc).__name__, exc)
    return Problem(str(path), 1, f"this file could not be checked ({type(exc).__name__}); "
                   "undo the last edit or ask a developer")


def program_problems(folder: Path) -> list[str]:
    """Return the problems the program files' own check reports (strategy library, nudges)."""
    try:
        return [str(line) for line in check_program_files(folder)]
    except Exception as exc:  # a broken checker must not hide the flow problems
        log.exception("bot.flows.program_files.check failed")
        return [f"{folder}:1: the program files check failed: {exc}"]


def check_path(path: Path) -> list[str]:
    """Return every problem of a flows folder (or of one file in it), as FILE:LINE lines."""
    if path.is_file():
        folder = path.parent
        loaded = load_folder(folder)
        if path.name == SAFETY_FILE:
            return [str(p) for p in loaded.safety_problems]
        own = [str(p) for p in loaded.problems if Path(p.path) == path]
        return own + [line for line in program_problems(folder) if line.startswith(f"{path}:")]
    if not path.is_dir():
        return [f"{path}:1: no such file or folder"]
    loaded = load_folder(path)
    lines = [str(p) for p in [*loaded.problems, *loaded.safety_problems]]
    return lines + program_problems(path)
