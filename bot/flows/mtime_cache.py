"""Remember what was computed from files until one of them changes on disk.

Rules:
- A result is kept per (kind, folder) with the stamp of the files it was read
  from: each path's modification time (ns), size and inode, or its absence. Any
  edit, replacement (a new inode), creation or removal of one of those paths
  changes the stamp, and the next call computes afresh.
- The caller names every file the result depends on; a file it leaves out is
  not watched.
- Results are shared by every thread of the process (pages call the loaders per
  request); callers must not change what they get back (copy it first).
- Pure: standard library only (bot.flows imports no web, database or SMS library).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

T = TypeVar("T")
Stamp = tuple[tuple[str, int, int, int] | tuple[str], ...]
_remembered: dict[tuple[str, str], tuple[Stamp, Any]] = {}
_lock = threading.Lock()


def stamp(paths: Iterable[Path]) -> Stamp:
    """Return what changes when any of `paths` is edited, replaced, created or removed."""
    stamps: list[tuple[str, int, int, int] | tuple[str]] = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            stamps.append((str(path),))
        else:
            stamps.append((str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino))
    return tuple(stamps)


def remember(kind: str, folder: Path, paths: Iterable[Path], compute: Callable[[], T]) -> T:
    """Return `compute()`, or what it returned last for `folder` while `paths` are unchanged."""
    key, now = (kind, str(folder)), stamp(paths)
    with _lock:
        found = _remembered.get(key)
    if found is not None and found[0] == now:
        return cast(T, found[1])
    value = compute()
    with _lock:
        _remembered[key] = (now, value)
    return value


def forget() -> None:
    """Drop every remembered result (tests that count reads start from nothing)."""
    with _lock:
        _remembered.clear()
