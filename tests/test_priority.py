"""Batch work yields the CPU: a research export runs in a low-priority thread (issue 15).

bot/core/priority.py raises the niceness of the thread doing the work only, so
the caller (a test process, a shell) keeps its own; an error or an interrupt
reaches the caller. The export itself, run as a real process and interrupted
mid-stream, is tested in tests/test_export_stream.py.
"""

from __future__ import annotations

import os
import sys
import threading

import pytest

from bot.core.priority import BATCH_NICENESS, lower_this_thread, run_at_low_priority

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
