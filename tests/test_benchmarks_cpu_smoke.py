"""Smoke tests of the in-process benchmarks: each runs end to end as a subprocess.

They check the report's lines only, never a figure (docs/performance.md has the
measured ones): benchmarks/webhook_mix_cpu.py on a tiny program,
benchmarks/sqlite_lock.py with a few transactions, and
benchmarks/webhook_lockhold.py (it wraps the pipeline's internals by name, so a
rename breaks it: the smoke run says so).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=BENCHMARKS,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_mix_cpu_benchmark_prints_the_floor_peerline_and_each_kind() -> None:
    out = _run("webhook_mix_cpu.py", "--texts", "60", "--size", "20")
    for pattern in (r"== sqlite: 60 texts of the mix, 20 veterans with a history",
                    r"durable floor\s+[\d.]+\s+[\d.]+", r"PeerLine\s+[\d.]+\s+[\d.]+",
                    r"checkin\s+[\d.]+\s+\(\d+ texts\)",
                    r"floor CPU / PeerLine CPU: [\d.]+x"):
        assert re.search(pattern, out), (pattern, out)


def test_the_lock_benchmark_prints_both_kinds_of_writer_twice() -> None:
    out = _run("sqlite_lock.py", "--transactions", "10")
    for name in ("baseline: SQLite busy handler", "PeerLine polled BEGIN"):
        rows = re.findall(rf"{name}\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+", out)
        assert len(rows) == 2, out


def test_the_lockhold_benchmark_prints_both_paths_and_the_hold() -> None:
    out = _run("webhook_lockhold.py", "--texts", "40", "--size", "10", "--rounds", "1")
    for pattern in (r"== phase A outside the lock: 40 texts",
                    r"write lock held, processing\s+[\d.]+\s+[\d.]+",
                    r"processed outside the lock\s+[1-9]\d* texts",
                    r"write lock held in all: [\d.]+ ms a text",
                    r"checkin\s+[\d.]+\s+[\d.]+\s+\(\d+\)"):
        assert re.search(pattern, out), (pattern, out)
    assert out.count("write lock held in all") == 2, out  # the baseline and the change
