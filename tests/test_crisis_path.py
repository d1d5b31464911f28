"""The crisis path never waits and never loses: locked databases, full disks, replays, crashes.

Real databases throughout: a SQLite file held by another connection in
BEGIN EXCLUSIVE, a PostgreSQL table under ACCESS EXCLUSIVE, a tmpfs that is
full. Each text goes through the signed webhook.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url

from bot.core.recent_texts import RecentTexts
from bot.inbound import pipeline, spool
from bot.inbound.spool import pending_files, replay_spool, spool_path
from bot.models import Escalation, Message, Outbox
from bot.sending.claims import NODE
from bot.sending.sender import OutboxSender
from tests.conftest import (
    COACH_PHONE,
    PARTICIPANT_PHONE,
    Sms,
    enrolled_app,
    make_config,
    need,
    replies,
)

STAFF_PHONE = "+12025550111"
CRISIS = "I want to kill myself"


def _app(url: str, clock: Any, sender: Any, **overrides: Any) -> tuple[Any, Sms]:
    services, app = enrolled_app(make_config(url, safety__staff_phones=[STAFF_PHONE],
                                             **overrides), clock, sender)
    return services, Sms(app.test_client())


def _timed(sms: Sms, body: str, sid: str) -> tuple[Any, float]:
    started = time.perf_counter()
    response = sms.send(PARTICIPANT_PHONE, body, sid=sid)
    return response, time.perf_counter() - started


def _drain(services: Any) -> None:
    """Run one pass of a real outbox sender (the recording transport stands in for Twilio)."""
    sender = OutboxSender(services, rate=100, max_in_flight=1, poll_seconds=30)
    try:
        sender.drain()
    finally:
        sender.stop()


def _stored(services: Any, sid: str) -> list[Message]:
    with services.db.session() as session:
        return list(session.scalars(select(Message).where(Message.sid == sid)))


def _assert_replayed_once(services: Any, sender: Any, sid: str) -> None:
    """Replay the spool: the text stored once, one escalation, staff not texted again."""
    assert replay_spool(services, services.clock.now()) >= 1
    rows = _stored(services, sid)
    assert len(rows) == 1 and rows[0].processed_at is not None
    with services.db.session() as session:
        assert session.scalars(select(Escalation)).one().message_id == rows[0].id
        staff_rows = session.scalars(select(Outbox).where(Outbox.to_phone == STAFF_PHONE)).all()
    assert [row.state for row in staff_rows] == ["cancelled"]  # kept, with the reason
    assert "texted directly" in (staff_rows[0].last_error or "")
    _drain(services)
    assert len(sender.bodies_to(STAFF_PHONE)) == 1  # the outage's direct text, only
    assert sender.bodies_to(COACH_PHONE), "the coach hears at replay"
    assert not any("988" in body for body in sender.bodies_to(PARTICIPANT_PHONE))


@pytest.fixture
def sqlite_app(db_url: str, clock: Any, sender: Any) -> Iterator[tuple[Any, Sms, str]]:
    services, sms = _app(db_url, clock, sender)
    yield services, sms, make_url(db_url).database or ""
    services.db.dispose()


def test_a_crisis_text_while_sqlite_is_held_exclusive_is_answered_and_replayed_once(
        sqlite_app, sender):
    services, sms, path = sqlite_app
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        crisis, took = _timed(sms, CRISIS, "SMlock0001")
        ordinary, _ = _timed(sms, "7", "SMlock0002")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert crisis.status_code == 200 and "988" in replies(crisis)[0]
    assert took < 5.0, f"crisis reply took {took:.2f} s"
    assert ordinary.status_code == 200 and replies(ordinary) == []
    assert len(sender.bodies_to(STAFF_PHONE)) == 1 and PARTICIPANT_PHONE in \
        sender.bodies_to(STAFF_PHONE)[0]
    assert {p.name for p in pending_files(spool_path(services))} == {"SMlock0001.json",
                                                                      "SMlock0002.json"}
    _assert_replayed_once(services, sender, "SMlock0001")
    assert len(_stored(services, "SMlock0002")) == 1


def test_a_crisis_text_stored_slowly_is_answered_at_once_and_processed_on_replay(
        sqlite_app, sender, monkeypatch):
    services, sms, _ = sqlite_app
    real = pipeline.store_inbound

    def slow_store(*args: Any) -> int:
        time.sleep(pipeline.SLOW_STORE + 0.1)  # a lock that let go just in time
        return real(*args)

    monkeypatch.setattr(pipeline, "store_inbound", slow_store)
    crisis, took = _timed(sms, CRISIS, "SMslow0001")
    monkeypatch.setattr(pipeline, "store_inbound", real)
    assert "988" in replies(crisis)[0] and took < 5.0
    stored = _stored(services, "SMslow0001")
    assert len(stored) == 1 and stored[0].processed_at is None  # kept; processed on replay
    _assert_replayed_once(services, sender, "SMslow0001")


def test_a_concern_text_while_sqlite_is_locked_gets_the_concern_reply(sqlite_app, sender):
    services, sms, path = sqlite_app
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        concern, took = _timed(sms, "nobody would miss me", "SMlock0101")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    matcher = services.flows.safety
    assert replies(concern) == [matcher.concern_reply] and took < 5.0
    assert sender.bodies_to(STAFF_PHONE) == []  # not urgent: the spool kept it
    assert replay_spool(services, services.clock.now()) == 1
    with services.db.session() as session:  # the reply it got is recorded, not sent again
        out = session.scalars(select(Message).where(Message.direction == "out",
                                                    Message.phone == PARTICIPANT_PHONE)).all()
    assert [(m.status, m.body) for m in out if m.body == matcher.concern_reply] in (
        [], [("twiml", matcher.concern_reply)])
    assert not any(m.status == "queued" and m.body == matcher.concern_reply for m in out)


def test_a_crisis_text_while_postgres_messages_are_locked_is_answered(pg_url, clock, sender):
    services, sms = _app(pg_url, clock, sender)
    holder = create_engine(pg_url).connect()
    try:
        holder.execute(text("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"))
        crisis, took = _timed(sms, CRISIS, "SMpglock01")
        holder.rollback()
        assert crisis.status_code == 200 and "988" in replies(crisis)[0]
        assert took < 5.0, f"crisis reply took {took:.2f} s"
        assert len(sender.bodies_to(STAFF_PHONE)) == 1
        _assert_replayed_once(services, sender, "SMpglock01")
    finally:
        holder.close()
        holder.engine.dispose()
        services.db.dispose()


@contextlib.contextmanager
def _small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        need(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); "
             "test_spool_write_failures_still_answer_a_crisis injects ENOSPC instead")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 4096)


def test_a_full_disk_for_database_and_spool_still_answers_a_crisis_and_texts_staff(
        tmp_path, sqlite_template, clock, sender):
    with _small_tmpfs(tmp_path / "disk", "4m") as disk:
        database = disk / "peerline.db"
        database.write_bytes(Path(sqlite_template).read_bytes())
        services, sms = _app(f"sqlite:///{database}", clock, sender,
                             database__spool_dir=str(disk / "spool"))
        try:
            sms.send(PARTICIPANT_PHONE, "HELP", sid="SMfull0000")  # the database works
            _fill(disk)
            crisis, took = _timed(sms, CRISIS + ". " + "x" * 3000, "SMfull0001")
            ordinary, _ = _timed(sms, "7 " + "x" * 3000, "SMfull0002")
        finally:
            services.db.dispose()
    assert crisis.status_code == 200 and "988" in replies(crisis)[0]
    assert took < 5.0
    alerts = sender.bodies_to(STAFF_PHONE)
    assert len(alerts) == 1 and "NOT saved" in alerts[0] and PARTICIPANT_PHONE in alerts[0]
    assert ordinary.status_code == 503  # nothing kept, nothing to say: shows in Twilio's debugger
    assert services.counters["spool_write_failures"] == 2


def test_spool_write_failures_still_answer_a_crisis(sqlite_app, sender, monkeypatch, caplog):

    services, sms, path = sqlite_app
    client = sms.client

    def disk_full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool.os, "fsync", disk_full)  # after the partial file is written
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        crisis = sms.send(PARTICIPANT_PHONE, CRISIS, sid="SMenospc01")
        ordinary = sms.send(PARTICIPANT_PHONE, "7", sid="SMenospc02")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "988" in replies(crisis)[0] and ordinary.status_code == 503
    assert len(sender.bodies_to(STAFF_PHONE)) == 1
    folder = spool_path(services)
    assert list(folder.glob("*")) == []  # no partial file left behind
    assert "ENOSPC" in caplog.text
    assert PARTICIPANT_PHONE not in caplog.text and "kill myself" not in caplog.text
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "peerline_spool_write_failures_total 2" in metrics
    health = client.get("/healthz").json
    assert health["spool_failures"]["spool_write_failures"] == 2
    assert health["status"] == "degraded"


def test_partial_spool_files_are_cleaned_up_and_counted(sqlite_app, sender):
    services, sms, _ = sqlite_app
    folder = spool_path(services)
    folder.mkdir(parents=True)
    stale = folder / ".SMdead0001.4242.1.tmp"
    stale.write_text('{"sid": "SMdea')  # a write a killed process left
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = folder / ".SMbusy0001.4243.1.tmp"
    fresh.write_text("{")  # a write in progress right now
    sms.send(PARTICIPANT_PHONE, "HELP")  # the database answers: the spool is looked at
    assert not stale.exists() and fresh.exists()
    assert "peerline_partial_files_removed_total 1" in \
        sms.client.get("/metrics").get_data(as_text=True)


def test_the_previous_text_of_the_last_ten_minutes_is_read_with_this_one(sqlite_app, sender,
                                                                         clock):
    services, sms, _ = sqlite_app
    assert "988" not in " ".join(replies(sms.send(PARTICIPANT_PHONE, "I want to")))
    clock.advance(timedelta(minutes=2))
    assert "988" in replies(sms.send(PARTICIPANT_PHONE, "die"))[0]
    clock.advance(timedelta(minutes=2))
    assert "988" not in " ".join(replies(sms.send(PARTICIPANT_PHONE, "I want to")))
    services.recent_texts = RecentTexts()  # the next text reaches another worker
    clock.advance(timedelta(minutes=2))
    assert "988" in replies(sms.send(PARTICIPANT_PHONE, "die"))[0]  # read from the database
    clock.advance(timedelta(minutes=11))
    assert "988" not in " ".join(replies(sms.send(PARTICIPANT_PHONE, "die")))
    with services.db.session() as session:
        assert len(session.scalars(select(Escalation)).all()) >= 1


def test_a_repeated_crisis_sid_while_sqlite_is_locked_alerts_staff_once(
        sqlite_app, sender):
    services, sms, path = sqlite_app  # a repeated sid while locked: one alert, same answer
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        first = sms.send(PARTICIPANT_PHONE, CRISIS, sid="SMrep00001")
        again = sms.send(PARTICIPANT_PHONE, CRISIS, sid="SMrep00001")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert replies(first) == replies(again) and "988" in replies(first)[0]
    assert len(sender.bodies_to(STAFF_PHONE)) == 1


# -- a sender that died holding crisis rows ------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _hold_rows(services: Any, holder: str) -> list[int]:
    """Mark every pending row claimed by `holder` just now, as a sender mid-send would."""
    now = services.clock.now()
    with services.db.session() as session:
        ids = list(session.scalars(select(Outbox.id).where(Outbox.state == "pending")))
        session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(
            state="claimed", claimed_by=holder, claimed_at=now, attempts=1))
    return ids


def test_crisis_rows_a_dead_sender_held_are_sent_right_after_start_up(sqlite_app, sender):
    services, sms, _ = sqlite_app
    assert "988" in replies(sms.send(PARTICIPANT_PHONE, CRISIS))[0]  # staff + coach queued
    held = _hold_rows(services, f"{NODE}:{_dead_pid()}:1")
    assert held
    _drain(services)  # a new sender starts: no time has passed, the lease is far from over
    assert sender.bodies_to(STAFF_PHONE) and sender.bodies_to(COACH_PHONE)
    with services.db.session() as session:
        states = set(session.scalars(select(Outbox.state).where(Outbox.id.in_(held))))
    assert states == {"sent"}


@pytest.mark.parametrize("holder", ["live", "this process", "other node", "no pid"])
def test_rows_of_a_sender_that_may_be_alive_wait_for_the_lease(sqlite_app, sender, holder):
    services, sms, _ = sqlite_app
    sms.send(PARTICIPANT_PHONE, CRISIS)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        name = {"live": f"{NODE}:{live.pid}:1", "this process": f"{NODE}:{os.getpid()}:99",
                "other node": f"elsewhere/0badcafe:{_dead_pid()}:1", "no pid": "dead"}[holder]
        held = _hold_rows(services, name)
        _drain(services)
    finally:
        live.kill()
        live.wait()
    assert sender.bodies_to(STAFF_PHONE) == []
    with services.db.session() as session:
        states = set(session.scalars(select(Outbox.state).where(Outbox.id.in_(held))))
    assert states == {"claimed"}
    services.clock.advance(timedelta(seconds=services.config.scheduler.lease_seconds + 1))
    _drain(services)  # the lease still applies
    assert sender.bodies_to(STAFF_PHONE)
