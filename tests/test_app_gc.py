"""A server process freezes what start-up built (bot.freeze_startup_objects); test apps do not.

The safety screen's tables are ~200,000 long-lived objects; left in the cyclic
GC's generations, every full collection walked them (~77 ms) inside a request.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

FLOWS = Path(__file__).resolve().parent.parent / "flows"
PROBE = ("import gc, time; from bot import create_app; app = create_app(); "
         "t = time.perf_counter(); gc.collect(); "
         "print(gc.get_freeze_count(), round((time.perf_counter() - t) * 1000, 1))")


def test_a_server_app_freezes_its_start_up_objects(tmp_path: Path, db_url: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n[web]\nsecret_key = "k"\n'
                      f'[flows]\ndir = "{FLOWS}"\n', encoding="utf-8")
    os.chmod(config, 0o600)
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120, check=False, cwd=tmp_path,
                          env={**os.environ, "PEERLINE_CONFIG": str(config)})
    assert done.returncode == 0, done.stderr[-2000:]
    frozen, _collect_ms = done.stdout.split()
    assert int(frozen) > 100_000  # the screen's tables among them


def test_apps_built_by_tests_leave_the_collector_alone(app: Any) -> None:
    assert app.extensions["peerline"] is not None
    assert gc.get_freeze_count() == 0
