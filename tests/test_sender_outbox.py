"""The outbox sender: claims, send-time re-checks, retries, failures, leases, wake-ups."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.domain.nudges import approve, draft_nudge, pause_for_participant
from bot.models import Nudge, Outbox, Participant
from bot.outbox.queue import PRIORITY_ALERT, PRIORITY_CRISIS
from bot.sending.outcome import backoff
from tests.conftest import COACH_PHONE, PARTICIPANT_PHONE
from tests.sched_support import (
    BAD_NUMBER,
    OPTED_OUT,
    SERVER_ERROR,
    outbox_row,
    queue,
)


def test_sends_by_priority_and_records_the_sid(services, people, fake, make_sender):
    normal = queue(services, people["participant"], "normal")
    alert = queue(services, None, "alert", phone=COACH_PHONE, priority=PRIORITY_ALERT)
    crisis = queue(services, None, "crisis", phone=COACH_PHONE, priority=PRIORITY_CRISIS)
    report = make_sender().drain()
    assert report.sent == 3
    assert [body for _, body in fake.sent] == ["crisis", "alert", "normal"]
    for message_id in (normal, alert, crisis):
        row, message = outbox_row(services, message_id)
        assert row.state == "sent" and row.attempts == 1
        assert message.sid and message.sid.startswith("SM")
        assert message.status == "queued" and message.sent_at is not None
    with services.db.session() as session:
        assert session.get(Participant, people["participant"]).last_outbound_at is not None
    assert make_sender().drain().sent == 0  # a second pass sends nothing twice


def test_rows_not_yet_due_wait(services, people, fake, clock, make_sender):
    later = queue(services, people["participant"], "later",
                  due_at=clock.now() + timedelta(minutes=5))
    assert make_sender().drain().sent == 0
    clock.advance(timedelta(minutes=5))
    assert make_sender().drain().sent == 1
    assert outbox_row(services, later)[0].state == "sent"


def test_opt_out_is_rechecked_at_send_time(services, people, fake, make_sender):
    message_id = queue(services, people["participant"], "hello")
    with services.db.session() as session:  # opted out behind the outbox's back
        session.get(Participant, people["participant"]).status = "opted_out"
    assert make_sender().drain().cancelled == 1
    row, message = outbox_row(services, message_id)
    assert (row.state, message.status, fake.sent) == ("cancelled", "canceled", [])


def test_quiet_hours_move_the_row_to_their_end(services, people, fake, clock, make_sender):
    clock.set(datetime(2026, 12, 8, 4, 0, tzinfo=UTC))  # 23:00 in New York
    flow_text = queue(services, people["participant"], "flow text")
    alert = queue(services, None, "coach alert", phone=COACH_PHONE, respect_quiet_hours=False)
    report = make_sender().drain()
    assert (report.sent, report.deferred) == (1, 1)
    assert fake.sent == [(COACH_PHONE, "coach alert")]
    row, _ = outbox_row(services, flow_text)
    assert row.state == "pending"
    assert row.due_at == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)  # 09:00 New York
    assert outbox_row(services, alert)[0].state == "sent"
    clock.set(datetime(2026, 12, 8, 14, 0, tzinfo=UTC))
    assert make_sender().drain().sent == 1
    assert fake.sent[-1] == (PARTICIPANT_PHONE, "flow text")


def _approved_nudge(services, people, due_at):
    from bot.models import Coach

    now = services.clock.now()
    with services.db.session() as session:
        participant = session.get(Participant, people["participant"])
        nudge = draft_nudge(session, participant, body="Keep going", reason="test",
                            source="test", event_key=f"test:{due_at.isoformat()}",
                            due_at=due_at, now=now)
        message = approve(session, nudge, session.get(Coach, people["coach"]), now)
        return nudge.id, message.id


def test_a_nudge_past_its_lateness_expires(services, people, fake, clock, make_sender):
    nudge_id, message_id = _approved_nudge(services, people, clock.now())
    clock.advance(timedelta(hours=12, minutes=1))  # 22:01 New York: too late anyway
    assert make_sender().drain().expired == 1
    row, message = outbox_row(services, message_id)
    assert (row.state, message.status, fake.sent) == ("expired", "expired", [])
    with services.db.session() as session:
        assert session.get(Nudge, nudge_id).status == "expired"


def test_a_sent_nudge_is_marked_sent(services, people, fake, make_sender):
    nudge_id, _ = _approved_nudge(services, people, services.clock.now())
    assert make_sender().drain().sent == 1
    with services.db.session() as session:
        assert session.get(Nudge, nudge_id).status == "sent"


def test_held_rows_stay_held(services, people, fake, make_sender):
    _, message_id = _approved_nudge(services, people, services.clock.now())
    with services.db.session() as session:
        pause_for_participant(session, people["participant"], services.clock.now())
    assert make_sender().drain().sent == 0
    assert outbox_row(services, message_id)[0].state == "held"


def test_a_first_retryable_error_pauses_sending_and_spends_no_try(services, people, fake,
                                                                  clock, make_sender):
    fake.script = [SERVER_ERROR]
    message_id = queue(services, people["participant"], "hello")
    due = outbox_row(services, message_id)[0].due_at
    report = make_sender().drain()  # refused, the circuit opens; the pass waits once, probes
    assert (report.refused, report.retried, report.sent, report.paused) == (1, 0, 1, 0)
    row, _ = outbox_row(services, message_id)
    assert row.state == "sent" and row.attempts == 1 and row.due_at == due
    assert 0.9 <= fake.times[1] - fake.times[0] <= 1.2  # the first pause: 1 s +/- 10 %


def test_a_row_refused_again_after_others_were_accepted_backs_off(services, people, fake, clock,
                                                                  make_sender):
    fake.script = [SERVER_ERROR, None, SERVER_ERROR]
    message_id = queue(services, people["participant"], "hello")
    queue(services, None, "alert", phone=COACH_PHONE)
    report = make_sender().drain()  # hello refused; probe "alert" accepted; hello refused
    assert (report.refused, report.sent, report.retried) == (1, 1, 1)
    row, _ = outbox_row(services, message_id)
    assert row.state == "pending" and row.attempts == 1 and "500" in (row.last_error or "")
    wait = (row.due_at - clock.now()).total_seconds()
    assert 1.0 <= wait <= 3.0  # its own failure: 2 s, jittered by +/-50 %
    assert make_sender().drain().sent == 0  # not before the back-off
    clock.set(row.due_at)
    assert make_sender().drain().sent == 1
    assert outbox_row(services, message_id)[0].state == "sent"


def test_backoff_grows_exponentially_with_jitter():
    rng = random.Random(3)
    waits = [backoff(n, rng) for n in range(1, 8)]
    for n, wait in enumerate(waits, start=1):
        assert 0.5 * 2 * 2 ** (n - 1) <= wait <= 1.5 * 2 * 2 ** (n - 1)
    assert backoff(30, rng) <= 900


def test_final_failure_is_kept_with_its_error(services, people, fake, clock, make_sender):
    fake.refuse[PARTICIPANT_PHONE] = SERVER_ERROR  # Twilio refuses this one text every time
    message_id = queue(services, people["participant"], "hello")
    sender = make_sender(max_attempts=3)
    for n in range(3):  # other texts are accepted between its tries, so the tries are its own
        queue(services, None, f"alert {n}", phone=COACH_PHONE)
        sender.drain()
        clock.advance(timedelta(minutes=10))
    row, message = outbox_row(services, message_id)
    assert (row.state, row.attempts, message.status, message.error_code) == (
        "failed", 3, "failed", 20500)
    assert "500" in (row.last_error or "")
    assert [body for _, body in fake.sent] == ["alert 0", "alert 1", "alert 2"]
    # Each pass: its first refusal is Twilio's (nothing accepted since its last), the probe
    # (an alert) is accepted, then its refusal is its own and counts: 3 passes x 3 calls.
    assert fake.calls == 9
    assert sender.circuit.closed and sender.drain().sent == 0


def test_a_final_error_is_not_retried(services, people, fake, make_sender):
    fake.script = [BAD_NUMBER]
    message_id = queue(services, people["participant"], "hello")
    assert make_sender().drain().failed == 1
    row, message = outbox_row(services, message_id)
    assert (row.state, message.error_code, fake.calls) == ("failed", 21211, 1)


def test_21610_opts_the_participant_out(services, people, fake, make_sender):
    fake.script = [OPTED_OUT]
    first = queue(services, people["participant"], "first")
    second = queue(services, people["participant"], "second")
    report = make_sender().drain()
    assert report.failed == 1 and fake.calls == 1
    with services.db.session() as session:
        assert session.get(Participant, people["participant"]).status == "opted_out"
    assert outbox_row(services, first)[1].error_code == 21610
    assert outbox_row(services, second)[0].state == "cancelled"


def test_a_dead_senders_claim_is_reclaimed_after_the_lease(services, people, fake, clock,
                                                             make_sender):
    from bot.sending.claims import PassReport

    message_id = queue(services, people["participant"], "hello")
    dead = make_sender(name="dead")
    assert len(dead.claim(PassReport())) == 1  # claimed, then the process "died"
    assert make_sender().drain().sent == 0
    clock.advance(timedelta(seconds=services.config.scheduler.lease_seconds))
    report = make_sender(name="alive").drain()
    assert (report.reclaimed, report.sent) == (1, 1)
    row, _ = outbox_row(services, message_id)
    assert row.state == "sent" and row.attempts == 2
    assert fake.sent == [(PARTICIPANT_PHONE, "hello")]


def test_an_urgent_row_wakes_the_background_sender(services, people, fake, make_sender):
    sender = make_sender(poll_seconds=3600)  # only a wake-up can make it send
    services.db.wakers.append(sender.wake)
    sender.start()
    queue(services, None, "URGENT", phone=COACH_PHONE, priority=PRIORITY_CRISIS, urgent=True)
    assert fake.event.wait(10), "the sender was not woken by the urgent row"
    assert fake.sent == [(COACH_PHONE, "URGENT")]


def test_status_callback_updates_the_sent_message(services, people, fake, make_sender, client):
    from tests.conftest import sign

    message_id = queue(services, people["participant"], "hello")
    make_sender().drain()
    sid = outbox_row(services, message_id)[1].sid
    params = {"MessageSid": sid, "MessageStatus": "delivered"}
    response = client.post("/sms/status", data=params,
                           headers={"X-Twilio-Signature": sign("/sms/status", params)})
    assert response.status_code in (200, 204)
    assert outbox_row(services, message_id)[1].status == "delivered"
    with services.db.session() as session:
        assert session.scalar(select(Outbox.state).where(Outbox.message_id == message_id)) \
            == "sent"


def test_a_status_that_beats_the_senders_own_write_finds_the_message(services, people, fake,
                                                                     make_sender, client):
    from tests.conftest import PUBLIC_URL, sign

    message_id = queue(services, people["participant"], "hello")
    send, seen = fake.send, {}

    def send_and_twilio_calls_back_at_once(to, body, *, status_callback=None):
        result = send(to, body, status_callback=status_callback)
        seen["url"] = status_callback
        path = (status_callback or "").removeprefix(PUBLIC_URL)
        params = {"MessageSid": result.sid, "MessageStatus": "delivered"}
        seen["answer"] = client.post(path, data=params, headers={
            "X-Twilio-Signature": sign(path, params)}).status_code
        return result

    fake.send = send_and_twilio_calls_back_at_once
    assert make_sender().drain().sent == 1
    assert seen["url"] == f"{PUBLIC_URL}/sms/status?m={message_id}"
    assert seen["answer"] in (200, 204)
    message = outbox_row(services, message_id)[1]
    assert message.status == "delivered" and message.sid  # the later write kept both


def test_program_texts_wait_while_staff_pause_a_veteran_but_a_coach_message_goes(
        services, people, fake, clock, make_sender):
    from bot.outbox.queue import queue_message

    program = queue(services, people["participant"], "program text")
    with services.db.session() as session:
        participant = session.get(Participant, people["participant"])
        participant.status = "paused"
        composed = queue_message(session, phone=participant.phone, body="from your coach",
                                 kind="compose", now=clock.now(), participant=participant).id
    assert make_sender().drain().sent == 1
    assert [body for _, body in fake.sent] == ["from your coach"]
    assert outbox_row(services, program)[0].state == "pending"
    assert outbox_row(services, composed)[0].state == "sent"
    with services.db.session() as session:
        session.get(Participant, people["participant"]).status = "active"
    clock.advance(timedelta(hours=1))
    assert make_sender().drain().sent == 1
    assert [body for _, body in fake.sent] == ["from your coach", "program text"]


def test_a_batch_longer_than_the_lease_sends_nothing_twice(services, clock, fake, make_sender):
    for n in range(40):
        queue(services, None, f"text {n:02d}", phone=COACH_PHONE)
    # Asked for 32-row batches: at 0.25/s one takes 128 s, past the default 120 s lease.
    slow = make_sender(name="slow", rate=0.25, batch_size=32)
    other = make_sender(name="other", rate=0.25, batch_size=32)
    send, inside = fake.send, []

    # While one of the slow sender's calls is in flight, the other sender runs a pass (in
    # virtual time, so the call lasts as long as that pass: up to a minute).
    def send_while_the_other_sender_runs_a_pass(to, body, *, status_callback=None):
        result = send(to, body, status_callback=status_callback)
        if not inside:  # the slow sender's call is in flight: the other sender's pass runs
            inside.append(True)
            try:
                other.drain()
            finally:
                inside.clear()
        return result

    fake.send = send_while_the_other_sender_runs_a_pass
    for _ in range(600):
        if len(fake.sent) >= 40:
            break
        slow.drain()
        clock.advance(timedelta(seconds=1))
    bodies = sorted(body for _, body in fake.sent)
    assert bodies == [f"text {n:02d}" for n in range(40)]  # every one, none twice


def test_a_live_senders_call_that_outlasts_the_lease_is_not_sent_again(services, people, clock,
                                                                      fake, make_sender):
    """The flaky kill -9 test once saw 5 repeats with 4 in flight: under load a live call
    (with its write after) outlasted the 5 s lease and another pass reclaimed and resent it.
    A live sender now renews its claims (a heartbeat thread, every lease / 3)."""
    import threading

    services.config = services.config.replace(scheduler__lease_seconds=3)
    message_id = queue(services, people["participant"], "hello")
    send, entered, release = fake.send, threading.Event(), threading.Event()

    def slow_call(to, body, *, status_callback=None):
        if not entered.is_set():
            entered.set()
            release.wait(20)
        return send(to, body, status_callback=status_callback)

    fake.send = slow_call
    slow = make_sender(name="slow", poll_seconds=0.05)
    slow.start()
    try:
        assert entered.wait(10), "the live sender never called"
        clock.advance(timedelta(seconds=10))  # the call has now lasted past the lease
        deadline = threading.Event()
        for _ in range(40):  # the heartbeat renews within lease / 3 = 1 s (real time)
            row = outbox_row(services, message_id)[0]
            if row.claimed_at == clock.now():
                break
            deadline.wait(0.1)
        report = make_sender(name="other").drain()
        assert (report.reclaimed, report.sent) == (0, 0)
    finally:
        release.set()
        slow.stop()
    assert fake.sent == [(PARTICIPANT_PHONE, "hello")]
