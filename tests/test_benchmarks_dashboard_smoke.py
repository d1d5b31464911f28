"""benchmarks/dashboard.py still runs: a tiny program on SQLite, every page printed, none failing.

No speed is asserted here; the figures belong to docs/performance.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("login", "healthz", "coach-home-small", "coach-home-big", "staff-home", "everyone",
         "everyone-search", "everyone-last", "staff-home-search",
         "veteran", "veteran-staff", "veteran-older", "escalation", "inbox-big", "inbox-staff",
         "audit", "failed", "fidelity", "flows", "exports-page", "enrol-form", "password",
         "export-messages", "export-checkins", "export-peg", "export-escalations",
         "export-fidelity")


def test_the_dashboard_benchmark_times_every_page_on_a_tiny_program(tmp_path: Any) -> None:
    env = {**os.environ, "PEERLINE_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "dashboard.py"), "--backend", "sqlite",
         "--size", "0.005", "--repeat", "1", "--export-repeat", "1", "--explain",
         "--explain-top", "1"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "building the SQLite program (size 0.005" in out
    for name in PAGES:
        match = re.search(rf"^  {re.escape(name)} +[\d.]+ +[\d.]+ .* (\d{{3}})  (\S+)", out,
                          re.M)
        assert match, f"no line for page {name}:\n{out}"
        assert match.group(1) == "200" and match.group(2) != "FAILED", match.group(0)
    reassign = re.search(r"^  reassign +(.*)$", out, re.M)  # a page only newer versions have
    assert reassign, f"no line for page reassign:\n{out}"
    assert "skipped: no such page" in reassign.group(1) or " 200  ok " in reassign.group(1)
    assert "slowest statement" in out  # --explain printed a plan
    assert "| staff home |" in out  # the markdown table for docs/performance.md

    again = subprocess.run(  # a second run takes the cached database
        [sys.executable, str(ROOT / "benchmarks" / "dashboard.py"), "--backend", "sqlite",
         "--size", "0.005", "--repeat", "1", "--export-repeat", "1", "--pages", "staff-home"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "building" not in again.stdout
    assert re.search(r"^  staff-home ", again.stdout, re.M)
    assert not re.search(r"^  everyone ", again.stdout, re.M)  # --pages chose one page
