"""The import contracts in pyproject.toml hold: pure engine, one-way layers, no cycles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_prism_serves_the_vendored_twilio_description(monkeypatch):
    from tests.prism import prism_paths

    monkeypatch.delenv("PEERLINE_TEST_TWILIO_SPEC", raising=False)
    _, spec = prism_paths()
    assert spec == REPO / "tests" / "twilio" / "twilio_api_v2010.json"
    assert (REPO / "tests" / "twilio" / "LICENSE").read_text().startswith("MIT License")


def test_nothing_reads_a_folder_beside_the_repository():
    if not (REPO / ".git").exists():
        import pytest

        pytest.skip("not a git checkout: git grep has nothing to search")
    done = subprocess.run(["git", "grep", "-n", r"\.\./shared"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1, done.stdout  # 1: no match anywhere in the tracked files
