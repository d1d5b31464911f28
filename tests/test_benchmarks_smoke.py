"""Smoke test of benchmarks/webhook.py: it runs end to end and prints every section's lines.

A real subprocess on SQLite with a tiny program and one-second measurements
(`--quick`). It checks the report's shape only, never a speed: the figures of
a smoke run on a shared machine mean nothing (docs/performance.md has the real
ones). About 20 s on a quiet machine; three gunicorns and two CLI exports start.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "webhook.py"
EXPECTED = (
    r"== sqlite: 20 veterans with a history",
    r"bare Flask, static TwiML\s+\d+",
    r"durable floor \(sqlite\)\s+\d+",
    r"PeerLine / floor: [\d.]+x \(target >= 0\.5x: (met|MISSED)\)",
    r"paced: 50/s offered, open loop",
    r"PeerLine p99 ([\d.]+|failed) ms vs floor ([\d.]+|failed) ms \(target < 50 ms: "
    r"(met|MISSED)\)",
    r"staff home alone: median [\d.]+ s over 1 loads, \d+ KB, 0 failed",
    r"export messages alone: median [\d.]+ s \([\d,]+ rows, 0 failed\)",
    r"PeerLine under load\s+\d+",
    r"webhook p99 alone ([\d.]+|failed) ms, under load ([\d.]+|failed) ms "
    r"\(target < 100 ms: (met|MISSED)\)",
    r"PeerLine stored [\d,]+ inbound texts",
    r"durable floor stored [\d,]+ texts",
)


def test_webhook_benchmark_runs_every_section_and_prints_its_lines() -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk); the benchmark drives load with it")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--backend", "sqlite", "--size", "20",
         "--seconds", "1", "--paced-seconds", "1"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    missing = [line for line in EXPECTED if not re.search(line, result.stdout)]
    assert not missing, f"missing {missing} in:\n{result.stdout}"
    assert "Traceback" not in result.stderr
