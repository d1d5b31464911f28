"""Run batch work (a research export) at a lower CPU priority than the webhook.

Rules (issue 15, "the webhook under dashboard load"):
- On a busy machine a long export should wait for the CPU, not the texts:
  a crisis reply is due within seconds, an export within minutes. The work
  runs in a thread of its own whose niceness is raised to BATCH_NICENESS
  (Linux sets niceness per thread), so when the thread ends the caller is
  exactly as it was: an export run in-process (tests, a shell) leaves the
  process's priority alone. Where a thread's priority cannot be set, the work
  runs at the caller's priority: slower texts, never a failed export.
- An interrupt (Ctrl-C) asks the work to stop at its next step (`stopping`),
  waits for it to finish, then interrupts the caller: whatever the work
  closes on the way out (the export's audit row) is still written.
- An error in the work is raised in the caller, as if it had run there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

BATCH_NICENESS = 10  # CFS gives a nice-10 thread about a tenth of a contested core


def lower_this_thread(niceness: int = BATCH_NICENESS) -> bool:
    """Raise the calling thread's niceness to `niceness` (never lower it); tell if it took."""
    try:
        thread = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, thread) < niceness:
            os.setpriority(os.PRIO_PROCESS, thread, niceness)
        return True
    except (OSError, AttributeError):  # not Linux, or not allowed: run as the caller does
        return False


def run_at_low_priority(work: Callable[[threading.Event], None]) -> None:
    """Run `work(stopping)` in a low-priority thread; return when it ends, raising its error."""
    stopping, done = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def body() -> None:
        lower_this_thread()
        try:
            work(stopping)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=body, name="peerline-batch", daemon=True).start()
    # An Event, not Thread.join: on Python 3.11 a join interrupted by Ctrl-C can
    # return at once the next time, and the process would end mid-export.
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        stopping.set()
        done.wait()
        raise
    if failure:
        raise failure[0]
