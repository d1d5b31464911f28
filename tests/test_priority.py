"""Batch work yields the CPU: a research export runs in a low-priority thread (issue 15).

bot/core/priority.py raises the niceness of the thread doing the work only, so
the caller (a test process, a shell) keeps its own; an error or an interrupt
reaches the caller, and an export interrupted mid-stream is still audited.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from bot.core.priority import BATCH_NICENESS, lower_this_thread, run_at_low_priority
from bot.models import AuditLog, Message
from tests.conftest import PARTICIPANT_PHONE, START
from tests.dashboard_support import world

__all__ = ["world"]
REPO = Path(__file__).resolve().parent.parent
PEERLINE = Path(sys.executable).with_name("peerline")
LINUX = sys.platform.startswith("linux")


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not LINUX, reason="only Linux sets a niceness per thread")
def test_the_work_runs_niced_and_the_caller_keeps_its_priority() -> None:
    before = _niceness()
    seen: list[tuple[int, int]] = []
    run_at_low_priority(lambda _stopping: seen.append((threading.get_native_id(), _niceness())))
    (worker, niceness), = seen
    assert worker != threading.get_native_id()
    assert niceness == max(before, BATCH_NICENESS)
    assert _niceness() == before


@pytest.mark.skipif(not LINUX, reason="only Linux sets a niceness per thread")
def test_a_thread_already_nicer_is_not_raised_in_priority() -> None:
    seen: list[int] = []

    def nicer() -> None:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BATCH_NICENESS + 5)
        assert lower_this_thread()
        seen.append(_niceness())

    thread = threading.Thread(target=nicer)
    thread.start()
    thread.join()
    assert seen == [BATCH_NICENESS + 5]


def test_an_error_in_the_work_is_raised_in_the_caller() -> None:
    def broken(_stopping: threading.Event) -> None:
        raise BrokenPipeError("the reader went away")

    with pytest.raises(BrokenPipeError, match="the reader went away"):
        run_at_low_priority(broken)


def _nice_by_thread(pid: int) -> list[int]:
    """Return the niceness of each of process `pid`'s threads (/proc/PID/task/TID/stat)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        found.append(int(fields[16]))  # field 19 of stat; the list starts at field 3
    return found


@pytest.mark.skipif(not LINUX, reason="reads /proc and per-thread niceness (Linux)")
def test_a_cli_export_streams_niced_and_ctrl_c_still_audits_it(
        services: Any, world: dict[str, int], tmp_path: Path) -> None:
    if not PEERLINE.exists():
        pytest.fail(f"{PEERLINE} missing: pip install -e . first")
    with services.db.session() as db:
        db.execute(insert(Message), [
            {"direction": "out", "participant_id": world["sam"], "phone": PARTICIPANT_PHONE,
             "body": f"Row {n}: how was your walk today? Reply 0-10 for pain.",
             "kind": "flow", "status": "delivered", "created_at": START} for n in range(6000)])
    config = tmp_path / "export.toml"
    config.write_text(f'[database]\nurl = "{services.config.database.url}"\n\n'
                      f'[flows]\ndir = "{REPO / "flows"}"\n')
    config.chmod(0o600)
    with subprocess.Popen([str(PEERLINE), "export", "messages", "--config", str(config)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as export:
        assert export.stdout is not None and export.stderr is not None
        try:
            assert export.stdout.readline().startswith(b"message_id,")
            # Blocked on the full pipe, mid-stream: the main thread waits at the
            # caller's priority, the thread writing rows runs niced.
            niceness = _nice_by_thread(export.pid)
            base = os.getpriority(os.PRIO_PROCESS, 0)
            assert niceness.count(max(base, BATCH_NICENESS)) == 1, niceness
            assert base in niceness, niceness
            export.send_signal(signal.SIGINT)
        finally:
            export.stdout.read()
            errors = export.stderr.read()
            export.wait(timeout=120)
    assert export.returncode != 0, errors
    with services.db.reading() as db:
        entry = db.scalars(select(AuditLog).where(AuditLog.action == "export")).one()
    assert entry.detail["complete"] is False and 0 < entry.detail["rows"] < 6000
