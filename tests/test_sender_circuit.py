"""The sender's provider-wide pause (bot/sending/sender.py invariant 5), on a scripted transport.

The same rules through the real Twilio transport and the local fake, on SQLite
and PostgreSQL, are in tests/test_sender_rate.py.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from bot.outbox.queue import PRIORITY_CRISIS
from bot.sending.circuit import Circuit
from bot.sending.sender import OutboxSender
from scheduler.jobs import send_outbox
from tests.sched_support import SERVER_ERROR, outbox_row, queue

X, Y, Z = "+12025550111", "+12025550112", "+12025550113"


def _queue_in_order(services, clock, texts):
    """Queue (phone, body) texts due one second apart, oldest first; return message ids."""
    start = clock.now() - timedelta(seconds=len(texts))
    return [queue(services, None, body, phone=phone, due_at=start + timedelta(seconds=n))
            for n, (phone, body) in enumerate(texts)]


def test_a_tick_while_the_circuit_is_open_sends_nothing(services, fake, clock, make_sender):
    fake.script = [SERVER_ERROR, SERVER_ERROR]  # the first try, then the first probe
    ids = _queue_in_order(services, clock, [(X, "one"), (Y, "two"), (Z, "three")])
    services.outbox_sender = make_sender()  # as `peerline tick` registers it
    assert send_outbox(services, clock.now()) == \
        "2 refused, sending paused: the SMS provider is refusing"
    assert fake.calls == 2  # "one" refused, the pause (1 s), the probe "two" refused
    assert send_outbox(services, clock.now()) == "sending paused: the SMS provider is refusing"
    assert fake.calls == 2  # the second pause (2 s) is still running: nothing was tried
    clock.advance(timedelta(seconds=2.3))
    assert send_outbox(services, clock.now()) == "3 sent"
    assert [body for _, body in fake.sent] == ["one", "two", "three"]  # the probe: "one"
    for message_id in ids:
        row, _ = outbox_row(services, message_id)
        assert (row.state, row.attempts) == ("sent", 1)


def test_the_probe_is_the_earliest_due_row(services, fake, clock, make_sender):
    fake.script = [SERVER_ERROR, SERVER_ERROR]
    _queue_in_order(services, clock, [(X, "normal")])
    sender = make_sender()
    assert sender.drain().paused == 1  # refused twice: its only row was also the probe
    queue(services, None, "crisis", phone=Y, priority=PRIORITY_CRISIS)  # during the pause
    queue(services, None, "later", phone=Z)
    clock.advance(timedelta(seconds=2.3))
    assert sender.drain().sent == 3
    assert [body for _, body in fake.sent] == ["crisis", "normal", "later"]
    assert fake.calls == 5


def test_probes_alternate_when_the_head_keeps_failing(services, fake, clock, make_sender):
    fake.script = [SERVER_ERROR] * 4
    ids = _queue_in_order(services, clock, [(X, "x1"), (X, "x2"), (Y, "y"), (Z, "z")])
    sender = make_sender()
    for _ in range(4):
        sender.drain()
        clock.advance(timedelta(seconds=10))
    # x1 opens; the probes alternate between it and the first text to another phone (y, not
    # x2: one person's texts keep their order); the fourth probe, x1, is accepted.
    assert [to for to, _ in fake.sent] == [X, X, Y, Z]
    assert [body for _, body in fake.sent] == ["x1", "x2", "y", "z"]
    assert fake.calls == 8
    assert all(outbox_row(services, i)[0].attempts == 1 for i in ids)
    assert sender.circuit.closed


def test_a_one_pass_sender_gets_past_a_text_that_always_fails(services, fake, clock,
                                                              make_sender):
    fake.refuse[X] = SERVER_ERROR
    poison, *others = _queue_in_order(services, clock, [(X, "poison"), (Y, "y1"), (Y, "y2"),
                                                        (Z, "z")])
    report = make_sender().drain()  # a fresh sender, as each `peerline tick` makes
    assert (report.refused, report.retried, report.sent, report.paused) == (1, 1, 3, 0)
    assert [body for _, body in fake.sent] == ["y1", "y2", "z"]
    row, _ = outbox_row(services, poison)
    assert row.state == "pending" and row.attempts == 1 and row.due_at > clock.now()


def test_the_background_loop_wakes_for_the_probe(services, fake):
    fake.clock = None  # real time: the loop's waits are real
    fake.script = [SERVER_ERROR] * 3
    queue(services, None, "hello", phone=X)
    sender = OutboxSender(services, rate=100, max_in_flight=1, poll_seconds=30)
    sender.circuit = Circuit(first_pause=0.05, max_pause=0.1)
    started = time.monotonic()
    sender.start()
    try:
        sender.wake()
        assert fake.event.wait(10), "the probe never went"
    finally:
        sender.stop()
    assert fake.calls == 4 and fake.sent == [(X, "hello")]
    assert time.monotonic() - started < 5  # not one 30 s poll: it woke when each pause ended


def test_a_row_given_back_after_the_last_claim_still_goes_in_that_pass(services, fake, clock,
                                                                        make_sender):
    """A sending thread gives its row back (the circuit said no) only after the pass's last
    claim found nothing: the pass claims it again instead of ending with it unsent."""
    ids = _queue_in_order(services, clock, [(X, "one"), (Y, "two")])
    two = outbox_row(services, ids[1])[0].id
    sender = make_sender(max_in_flight=2)
    claimed_nothing, denied = threading.Event(), []
    real_claim, real_unclaim, real_allows = sender.claim, sender._unclaim, sender.circuit.allows

    def claim(report, **kwargs):
        claims = real_claim(report, **kwargs)
        if not claims:
            claimed_nothing.set()
        return claims

    def unclaim(claims):
        claimed_nothing.wait(10)  # the row goes back after the pass looked for rows
        real_unclaim(claims)

    def allows(outbox_id):
        in_sending_thread = threading.current_thread().name.startswith("peerline-send")
        if outbox_id == two and in_sending_thread and not denied:
            denied.append(outbox_id)  # once, in its sending thread's re-check
            return False
        return real_allows(outbox_id)

    sender.claim, sender._unclaim, sender.circuit.allows = claim, unclaim, allows
    report = sender.drain()
    assert denied == [two] and claimed_nothing.is_set()
    assert report.sent == 2, report
    assert sorted(body for _, body in fake.sent) == ["one", "two"]
