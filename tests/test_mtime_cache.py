"""bot/flows/mtime_cache.py: a result is kept until a file it was read from changes on disk."""

from __future__ import annotations

import os
from pathlib import Path

from bot.flows import mtime_cache


def test_a_result_is_computed_again_only_when_a_watched_file_changes(tmp_path: Path) -> None:
    mtime_cache.forget()
    watched, other = tmp_path / "a.yaml", tmp_path / "b.yaml"
    watched.write_text("one")
    other.write_text("x")
    calls: list[str] = []

    def read() -> str:
        calls.append(watched.read_text() if watched.exists() else "")
        return calls[-1]

    def value() -> str:
        return mtime_cache.remember("probe", tmp_path, [watched], read)

    assert (value(), value()) == ("one", "one") and len(calls) == 1
    other.write_text("y")  # not watched
    assert value() == "one" and len(calls) == 1
    # Replaced by a file of the same size and modification time: only the inode differs.
    before = watched.stat()
    fresh = tmp_path / "a.new"
    fresh.write_text("two")
    os.utime(fresh, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(fresh, watched)
    assert value() == "two" and len(calls) == 2
    watched.unlink()
    assert value() == "" and len(calls) == 3
    assert mtime_cache.remember("other kind", tmp_path, [watched], lambda: "own") == "own"
    mtime_cache.forget()
    assert value() == "" and len(calls) == 4
