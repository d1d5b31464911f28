"""When the sender takes its rate token: after a row's send-time re-check, just before the
API call, so database waits in the re-check never bunch calls above the rate (invariant 4).

On SQLite and PostgreSQL: the order of re-check, token and call observed on the real
database's statements; a participant who texts STOP while their text waits takes no token;
at 1/s with 8 in flight a re-check is still at most 0.5 s older than its token; and a
database lock of 1.5 s in the middle of a run leaves no second with more calls than the
rate allows. Also the bucket's `acquire(may)` and `wait_ready`, which take no token.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import make_url

from bot.core.clock import FrozenClock
from bot.inbound.consent import opt_out
from bot.models import Participant
from bot.outbox.queue import queue_message
from bot.sending.ratelimit import TokenBucket
from bot.sending.sender import OutboxSender
from tests.conftest import make_config
from tests.sched_support import (
    SENDER_COACH,
    SENDER_NOON,
    ScriptedSender,
    max_in_window,
    on_grant,
    outbox_row,
    queue,
    services_with_sam,
    virtual_time,
)

NOON, COACH = SENDER_NOON, SENDER_COACH
# The re-check's first statement, where it waits for the lock: one outbox row read by id
# (FOR UPDATE on PostgreSQL; SQLite's write lock is taken at BEGIN IMMEDIATE just before).
RECHECK = re.compile(r"^SELECT outbox\.id\b.*\sFROM outbox\s+WHERE outbox\.id = \S+"
                     r"(\s+FOR UPDATE)?\s*$", re.DOTALL)


@pytest.fixture
def any_services(any_db_url):
    """Services on SQLite and on PostgreSQL, a coach and a participant, at noon."""
    built = services_with_sam(make_config(any_db_url))
    yield built
    built.db.dispose()


class Events:
    """What happened, in order: each re-check's read, each token granted, each API call;
    with when (the services' clock; for a token, the time the bucket granted it)."""

    def __init__(self, services: Any, sender: OutboxSender) -> None:
        self.services = services
        self.seen: list[str] = []
        self.at: dict[str, list[float]] = {"recheck": [], "token": [], "call": []}
        self._lock = threading.Lock()
        event.listen(services.db.engine, "before_cursor_execute", self._statement)
        on_grant(sender, lambda at: self.add("token", at))

    def add(self, what: str, at: float | None = None) -> None:
        with self._lock:
            self.seen.append(what)
            self.at[what].append(self.services.clock.now().timestamp() if at is None else at)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if RECHECK.search(statement):
            self.add("recheck")


class StopsOnFirstCall(ScriptedSender):
    """Answers every call; during the first one the participant texts STOP (bot.inbound)."""

    def __init__(self, services: Any, participant_id: int) -> None:
        super().__init__(services.clock)
        self.services, self.participant_id = services, participant_id
        self.events: Events | None = None

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> Any:
        if self.events is not None:
            self.events.add("call")
        if self.calls == 0:
            with self.services.db.session() as session:
                opt_out(session, self.participant_id, method="keyword",
                        now=self.services.clock.now())
        return super().send(to, body, status_callback=status_callback)


def test_the_token_comes_after_the_recheck_and_stop_at_send_time_takes_none(any_services):
    services = any_services
    with services.db.session() as session:
        pid = session.scalar(select(Participant.id))
    first = queue(services, None, "to the coach", phone=COACH, priority=1)
    second = queue(services, pid, "to Sam")  # claimed with the first, STOP comes in between
    fake = services.sender = StopsOnFirstCall(services, pid)
    sender = OutboxSender(services, rate=10, max_in_flight=1, **virtual_time(services.clock))
    fake.events = events = Events(services, sender)
    try:
        report = sender.drain()
    finally:
        sender.stop()
    # Re-check (the row is still ours, the lease renewed), then the token, then the call with
    # no database wait between them. Sam's STOP cancelled his claimed text (bot.inbound):
    # his re-check finds it no longer ours and takes no token.
    assert events.seen == ["recheck", "token", "call", "recheck"]
    assert report.sent == 1
    assert outbox_row(services, first)[0].state == "sent"
    assert outbox_row(services, second)[0].state == "cancelled"
    assert fake.sent == [(COACH, "to the coach")]


def test_at_one_a_second_each_text_is_rechecked_at_most_half_a_second_before_its_token(
        any_services):
    services = any_services
    fake = services.sender = ScriptedSender(services.clock)
    for n in range(6):
        queue(services, None, f"text {n}", phone=COACH)
    # 8 threads could each re-check at once and then wait up to 8 s for their tokens, the
    # STOP check 8 s stale; one re-checks at a time, when its token is due within 0.5 s.
    sender = OutboxSender(services, rate=1, max_in_flight=8, **virtual_time(services.clock))
    events = Events(services, sender)
    try:
        assert sender.drain().sent == 6
    finally:
        sender.stop()
    assert len(fake.sent) == 6
    rechecks, tokens = events.at["recheck"], events.at["token"]
    assert len(rechecks) == len(tokens) == 6
    assert all(0 <= token - recheck <= 0.5 + 1e-6
               for recheck, token in zip(rechecks, tokens, strict=True)), (rechecks, tokens)
    assert tokens[-1] - tokens[0] == pytest.approx(5, abs=0.01)  # still 1 a second


def test_the_bucket_takes_no_token_when_asked_not_to_and_none_while_waiting_ready():
    clock = FrozenClock(NOON)
    bucket = TokenBucket(1, **virtual_time(clock))
    start = NOON.timestamp()
    assert bucket.acquire(lambda: False) is None  # a token was there: it stays
    assert bucket.acquire() == start  # at once
    bucket.wait_ready(0.5)  # the next is due at +1 s: wait until +0.5 s, take nothing
    assert clock.now().timestamp() == pytest.approx(start + 0.5, abs=1e-5)
    asked = []

    def may() -> bool:
        asked.append(clock.now())
        return True

    assert bucket.acquire(may) == pytest.approx(start + 1)
    assert asked == [NOON + timedelta(seconds=0.5), NOON + timedelta(seconds=1)]  # then took


def _hold_the_write_lock(url: str, seconds: float, held: threading.Event) -> None:
    """Hold the database's write lock (SQLite) or the outbox's row locks (PostgreSQL)."""
    conn: Any
    if url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(url).database or "", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
    else:
        conn = psycopg.connect(make_url(url).set(drivername="postgresql")
                               .render_as_string(hide_password=False))
        conn.execute("LOCK TABLE outbox IN EXCLUSIVE MODE")  # FOR UPDATE waits; reads do not
    held.set()
    time.sleep(seconds)  # the lock's length, in real time: what the sender must wait out
    conn.commit()
    conn.close()


class LocksMidRun(ScriptedSender):
    """Answers after 20 ms; at the `at`-th call a thread holds the write lock for 1.5 s."""

    def __init__(self, url: str, at: int) -> None:
        super().__init__(latency=0.02)
        self.url, self.at = url, at
        self.held = threading.Event()
        self.blocker: threading.Thread | None = None

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> Any:
        if self.calls + 1 == self.at:
            self.blocker = threading.Thread(target=_hold_the_write_lock,
                                            args=(self.url, 1.5, self.held))
            self.blocker.start()
            self.held.wait(5)
        return super().send(to, body, status_callback=status_callback)



def test_a_database_wait_in_the_recheck_does_not_bunch_calls_above_the_rate(any_services):
    services, rate, count = any_services, 20, 70
    with services.db.session() as session:
        for n in range(count):
            queue_message(session, phone=COACH, body=f"text {n}", kind="alert", now=NOON,
                          to_participant=False)
    fake = services.sender = LocksMidRun(services.db.url, at=15)
    sender = OutboxSender(services, rate=rate, max_in_flight=10)  # real time
    try:
        assert sender.drain().sent == count
    finally:
        sender.stop()
        if fake.blocker is not None:
            fake.blocker.join(10)
    times = sorted(fake.times)
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    # Sends re-checked before the lock still go, at the rate; then none until it ends.
    assert max(gaps) >= 0.6, "the lock should have stopped the sends for a second or so"
    # Token before the re-check: the calls granted during the lock all went when it ended,
    # on top of the next second's 20 (10 in flight: 29-30 in one second). Token after it:
    # 20 a second plus the one on the window's edge; one more for a thread's start-up jitter.
    assert max_in_window(times) <= rate + 2, max_in_window(times)
