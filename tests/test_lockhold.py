"""Processing outside SQLite's write lock (bot/inbound/lockhold.py): the race between the phases.

A text's phase A (reads, routing, the engine; nothing written) runs without the
write lock; phase B takes the lock, runs every read again and writes only if
each returns the same rows. Here another text, on another thread and its own
connection, really commits between the two phases of a first text, on real
SQLite: whatever it changed that the first text read makes the first text be
processed again under the lock, with the answer a serial order gives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

import bot.inbound.lockhold as lockhold
from bot.core.db import WriteOutsideLock, logs_reads, unlocked_reads
from bot.core.recent_texts import RecentTexts
from bot.models import CheckinAnswer, Escalation, Message, Participant, Run
from tests.conftest import PARTICIPANT_PHONE, replies, sign

OTHER_PHONE = "+12025550124"


def post(app: Any, body: str, sid: str | None = None, phone: str = PARTICIPANT_PHONE) -> Any:
    """Post one signed inbound text through the real webhook."""
    params = {"MessageSid": sid or f"SM{abs(hash((body, phone, threading.get_ident())))}x",
              "From": phone, "To": "+12025550100", "Body": body, "NumMedia": "0"}
    return app.test_client().post("/sms/inbound", data=params,
                                  headers={"X-Twilio-Signature": sign("/sms/inbound", params)})


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record what each phase B check found (True: every read unchanged)."""
    found: list[bool] = []
    real = lockhold.reads_unchanged

    def spy(connection: Any, reads: Any) -> bool:
        same = real(connection, reads)
        found.append(same)
        return same

    monkeypatch.setattr(lockhold, "reads_unchanged", spy)
    return found


@pytest.fixture
def between(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], Any]], None]]:
    """Run an action on another thread, to its end, between phase A and B of the next text."""
    pending: list[Callable[[], Any]] = []
    errors: list[BaseException] = []
    real = lockhold._plan

    def plan_then_act(*args: Any, **kwargs: Any) -> Any:
        planned = real(*args, **kwargs)
        if pending:
            action = pending.pop()

            def run() -> None:
                try:
                    action()
                except BaseException as exc:  # noqa: BLE001 - reported by the test
                    errors.append(exc)

            other = threading.Thread(target=run)
            other.start()
            other.join(timeout=30)  # phase A holds no lock: the other text is never blocked
            assert not other.is_alive()
        return planned

    monkeypatch.setattr(lockhold, "_plan", plan_then_act)
    yield pending.append
    assert not errors, errors
    assert not pending, "the action never ran"


def answers(services: Any) -> list[tuple[str, str]]:
    with services.db.session() as session:
        return [(row.variable, row.value) for row in session.scalars(
            select(CheckinAnswer).order_by(CheckinAnswer.id))]


def test_a_usual_text_is_processed_outside_the_lock_and_checked_once(app, services, people,
                                                                      checks):
    assert "check-in time" in replies(post(app, "CHECKIN"))[0]
    answered = replies(post(app, "about a 7 today"))
    assert "enjoyment of life" in answered[0]
    assert checks == [True, True]  # both texts: phase A, then one check under the lock
    assert answers(services) == [("pain", "7")]


def test_a_second_answer_committed_between_the_phases_is_not_lost(app, services, people,
                                                                   checks, between):
    assert "check-in time" in replies(post(app, "CHECKIN"))[0]
    other: list[Any] = []
    between(lambda: other.append(post(app, "4", sid="SMsecond")))
    first = replies(post(app, "7", sid="SMfirst"))
    # The second text answered the pain question while the first was between its phases;
    # the first one's run row changed, so it was redone under the lock: it answers the
    # next question, as if the two had come one after the other.
    assert "enjoyment of life" in replies(other[0])[0]
    assert "general activity" in first[0]
    assert checks == [True, True, False]
    assert answers(services) == [("pain", "4"), ("enjoyment", "7")]
    with services.db.session() as session:
        run = session.scalars(select(Run).where(Run.flow_id == "weekly_checkin")).one()
        assert (run.step, run.waiting) == ("activity", True)
        stored = session.scalars(select(Message).where(Message.sid == "SMfirst")).one()
        assert stored.step_id == "enjoyment" and "general activity" in stored.reply_twiml


def test_a_stop_committed_between_the_phases_wins(app, services, people, checks, between):
    assert "check-in time" in replies(post(app, "CHECKIN"))[0]
    other: list[Any] = []
    between(lambda: other.append(post(app, "STOP")))
    late = replies(post(app, "7"))
    assert len(replies(other[0])) == 1  # the opt-out confirmation
    assert late == []  # opted out by then: no question follows, nothing is saved
    assert checks == [True, False]  # STOP itself takes the locked path: no check
    assert answers(services) == []
    with services.db.session() as session:
        assert session.get(Participant, people["participant"]).status == "opted_out"
        assert session.scalars(select(Run.status)).all() == ["ended"]


def test_a_racing_copy_of_the_same_sid_is_processed_once(app, services, people, checks,
                                                          between):
    assert "check-in time" in replies(post(app, "CHECKIN"))[0]
    other: list[Any] = []
    between(lambda: other.append(post(app, "5", sid="SMcopy")))
    first = replies(post(app, "5", sid="SMcopy"))
    assert first == replies(other[0]) and "enjoyment of life" in first[0]
    assert answers(services) == [("pain", "5")]
    assert checks[-1] is False  # the copy read the row unprocessed; it was processed since
    with services.db.session() as session:
        assert len(session.scalars(select(Message).where(Message.sid == "SMcopy")).all()) == 1
        assert len(session.scalars(select(Message).where(
            Message.direction == "out", Message.body.contains("enjoyment"))).all()) == 1


def test_another_veterans_text_between_the_phases_changes_nothing_read(app, services, people,
                                                                       checks, between):
    from bot.domain.people import add_participant

    with services.db.session() as session:
        coach = session.get(Participant, people["participant"]).coach
        add_participant(session, phone=OTHER_PHONE, name="Lee Park", coach=coach,
                        timezone="America/New_York", now=services.clock.now())
    assert "check-in time" in replies(post(app, "CHECKIN"))[0]
    other: list[Any] = []
    between(lambda: other.append(post(app, "CHECKIN", phone=OTHER_PHONE)))
    assert "enjoyment of life" in replies(post(app, "6"))[0]
    assert "check-in time" in replies(other[0])[0]
    assert checks[-1] is True  # nothing the first text read had changed: written as planned
    assert answers(services) == [("pain", "6")]


def test_phase_a_holds_no_lock_and_cannot_write(app, services, people):
    engine = services.db._short()[0]
    with engine.connect() as connection:
        assert logs_reads(connection)
        with unlocked_reads(connection) as reads:
            found = connection.execute(select(Participant.status)).scalars().all()
            assert not connection.connection.dbapi_connection.in_transaction  # no BEGIN
            # Another connection takes the write lock and commits without waiting.
            with engine.connect() as writer, writer.begin():
                writer.execute(text("UPDATE participants SET name = 'Sam C'"))
            with pytest.raises(WriteOutsideLock):
                connection.execute(text("UPDATE participants SET name = 'lost'"))
            connection.rollback()
        assert found == ["active"] and len(reads) == 1
    with services.db.session() as session:
        assert session.get(Participant, people["participant"]).name == "Sam C"


def test_a_crisis_found_only_in_the_stored_previous_text_is_answered(app, services, people,
                                                                     checks, clock):
    assert "988" not in " ".join(replies(post(app, "I want to")))
    services.recent_texts = RecentTexts()  # the next text reaches another worker
    clock.advance(timedelta(minutes=2))
    answered = replies(post(app, "die"))
    assert answered and "988" in answered[0]
    assert checks == [True]  # "die" alone screens clean; phase A's alert could not be
    with services.db.session() as session:  # written, so the text went the locked way
        assert session.scalars(select(Escalation.urgent)).all() == [True]


def test_a_run_that_expires_on_the_text_is_processed_under_the_lock(app, services, people,
                                                                      checks, clock):
    assert "check-in time" in replies(post(app, "CHECKIN"))[0]
    clock.advance(timedelta(days=3))  # past the check-in's expire_after (2 days)
    late = replies(post(app, "5"))
    # Ending the run is a row the late-answer check must see: phase A cannot keep it
    # unwritten, so the text went the locked way (no phase B check) and was answered.
    assert checks == [True]
    assert late and "enjoyment" not in late[0]
    assert answers(services) == []
    with services.db.session() as session:
        assert session.scalars(select(Run.status).where(
            Run.flow_id == "weekly_checkin")).all() == ["expired"]


def test_a_deferred_writer_keeps_only_what_no_later_read_looks_at(services, people):
    from bot.runtime.runs import RunRow
    from bot.runtime.writer import Writer

    now = services.clock.now()
    with services.db.session() as session:
        participant = session.get(Participant, people["participant"])
        writer = Writer(session, services, now)
        writer.deferred = True
        writer.set_participant(participant, "last_inbound_at", now)
        writer.write()  # kept for later, not written
        assert session.scalar(select(Participant.last_inbound_at)) is None
        writer.add_run(RunRow(participant_id=participant.id, flow_id="weekly_checkin",
                              flow_version="1", started_at=now, updated_at=now))
        with pytest.raises(WriteOutsideLock):
            writer.write()  # a later read would miss the run
        writer.deferred = False
        writer.write()
        assert session.scalar(select(Participant.last_inbound_at)) == now
        assert session.scalars(select(Run.flow_id)).all() == ["weekly_checkin"]


def test_two_answers_at_once_each_answer_one_question(app, services, people, checks):
    for trial in range(4):
        assert "check-in time" in replies(post(app, "CHECKIN", sid=f"SMstart{trial}"))[0]
        barrier = threading.Barrier(2)
        got: dict[str, Any] = {}

        def answer(value: str, trial: int = trial, barrier: threading.Barrier = barrier,
                   got: dict[str, Any] = got) -> None:
            barrier.wait(timeout=10)
            got[value] = post(app, value, sid=f"SMat{trial}x{value}")

        threads = [threading.Thread(target=answer, args=(value,)) for value in ("3", "8")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        texts = [replies(response)[0] for response in got.values()]
        # One answered the pain question and one the next: never both the same step.
        assert sum("enjoyment of life" in text for text in texts) == 1
        assert sum("general activity" in text for text in texts) == 1
        last = answers(services)[-2:]
        assert [variable for variable, _ in last] == ["pain", "enjoyment"]
        assert sorted(value for _, value in last) == ["3", "8"]
