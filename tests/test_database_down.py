"""Texts that arrive while the database is down are spooled, answered and replayed.

The outage is real: PostgreSQL is reached through a TCP forwarder the test
cuts (tests/tcp_proxy.py), so the driver sees a refused connection.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.inbound.spool import pending_files, replay_spool, spool_path, spool_text, spooled_count
from bot.inbound.store import InboundSms
from bot.models import Escalation, Message, Outbox
from tests.conftest import PARTICIPANT_PHONE, Sms, enrolled_app, make_config, replies
from tests.tcp_proxy import TcpProxy

STAFF_PHONE = "+12025550111"


@pytest.fixture
def outage(pg_url: str, clock: Any, sender: Any) -> Iterator[tuple[Any, Sms, TcpProxy]]:
    """The app on PostgreSQL behind a forwarder the test can cut; Sam enrolled."""
    real = make_url(pg_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    services, app = enrolled_app(make_config(url, safety__staff_phones=[STAFF_PHONE]), clock,
                                 sender)
    yield services, Sms(app.test_client()), proxy
    proxy.close()
    services.db.dispose()


def _inbound(services: Any, sid: str) -> Message | None:
    with services.db.session() as session:
        return session.scalar(select(Message).where(Message.sid == sid))


def test_texts_during_an_outage_are_answered_spooled_and_replayed(outage, sender, clock, caplog):
    services, sms, proxy = outage
    caplog.set_level("DEBUG")
    arrived = clock.now()
    proxy.cut()
    ordinary = sms.send(PARTICIPANT_PHONE, "7", sid="SMdown0001")
    crisis = sms.send(PARTICIPANT_PHONE, "I want to kill myself", sid="SMdown0002")
    repeat = sms.send(PARTICIPANT_PHONE, "7", sid="SMdown0001")

    assert (ordinary.status_code, crisis.status_code, repeat.status_code) == (200, 200, 200)
    assert replies(ordinary) == [] and replies(repeat) == []
    assert len(replies(crisis)) == 1 and "988" in replies(crisis)[0]
    alerts = sender.bodies_to(STAFF_PHONE)
    assert len(alerts) == 1 and PARTICIPANT_PHONE in alerts[0]
    assert "kill" not in alerts[0]  # alerts never carry the text
    folder = spool_path(services)
    files = pending_files(folder)
    assert sorted(p.name for p in files) == ["SMdown0001.json", "SMdown0002.json"]
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in files)

    proxy.restore()
    clock.advance(timedelta(minutes=5))
    after = sms.send(PARTICIPANT_PHONE, "HELP", sid="SMdown0003")
    assert after.status_code == 200 and replies(after)
    assert pending_files(folder) == []  # the text that found the database back replayed them

    stored = _inbound(services, "SMdown0001")
    assert stored is not None and stored.processed_at is not None
    assert stored.created_at == arrived and stored.participant_id is not None
    with services.db.session() as session:
        escalation = session.scalars(select(Escalation)).one()
        crisis_row = session.scalar(select(Message).where(Message.sid == "SMdown0002"))
        assert crisis_row is not None and escalation.message_id == crisis_row.id
        queued = session.scalars(select(Message).join(Outbox, Outbox.message_id == Message.id)
                                 .where(Message.phone == PARTICIPANT_PHONE)).all()
        twiml = session.scalars(select(Message).where(Message.phone == PARTICIPANT_PHONE,
                                                      Message.status == "twiml")).all()
    assert not any("988" in m.body for m in queued)  # the crisis reply is not sent twice
    assert any("988" in m.body for m in twiml)  # it is recorded as given
    assert queued, "the ordinary text's reply goes out through the outbox"
    assert "spooled for replay" in caplog.text
    assert PARTICIPANT_PHONE not in caplog.text and "kill myself" not in caplog.text


def test_a_repeat_of_a_spooled_sid_after_the_outage_is_stored_once(outage):
    services, sms, proxy = outage
    proxy.cut()
    sms.send(PARTICIPANT_PHONE, "7", sid="SMdown0100")
    proxy.restore()
    sms.send(PARTICIPANT_PHONE, "7", sid="SMdown0100")  # stored now, then the spool replays
    replay_spool(services, services.clock.now())
    with services.db.session() as session:
        assert len(session.scalars(select(Message).where(Message.sid == "SMdown0100")).all()) == 1
    assert pending_files(spool_path(services)) == []


def test_the_scheduler_job_replays_the_spool(db_app, clock):
    from scheduler.jobs import run_job

    services = db_app.extensions["peerline"]
    sms = InboundSms(sid="SMspool0001", phone=PARTICIPANT_PHONE, body="HELP", num_media=0)
    spool_text(spool_path(services), sms, clock.now(), crisis_answered=False)
    summary = run_job(services, "inbound_recovery", clock.now())
    assert "1 spooled" in summary
    stored = _inbound(services, "SMspool0001")
    assert stored is not None and stored.processed_at is not None
    with services.db.session() as session:
        outbox = session.scalars(select(Message).join(Outbox, Outbox.message_id == Message.id)
                                 .where(Message.phone == PARTICIPANT_PHONE)).all()
    assert len(outbox) == 1 and "STOP" in outbox[0].body  # HELP's answer, by the outbox


def test_an_unreadable_spool_file_is_left_for_a_person(db_app, clock):
    services = db_app.extensions["peerline"]
    folder = spool_path(services)
    folder.mkdir(parents=True)
    (folder / "SMbroken.json").write_text("{not json")
    good = InboundSms(sid="SMspool0002", phone=PARTICIPANT_PHONE, body="7", num_media=0)
    spool_text(folder, good, clock.now(), crisis_answered=False)
    assert replay_spool(services, clock.now()) == 1
    assert pending_files(folder) == []
    assert (folder / "SMbroken.json.failed").exists()  # set aside once, not retried
    assert spooled_count(services) == 1  # /healthz stays degraded until a person looks
    assert _inbound(services, "SMspool0002") is not None


def test_a_spooled_text_that_cannot_be_stored_holds_up_nothing(db_app, clock):
    services = db_app.extensions["peerline"]
    folder = spool_path(services)
    folder.mkdir(parents=True)
    (folder / "SMnophone.json").write_text(json.dumps({  # a hand-made file: no phone
        "sid": "SMnophone", "phone": None, "body": "7", "num_media": 0,
        "received_at": clock.now().isoformat(), "crisis_answered": False}))
    later = InboundSms(sid="SMspool0004", phone=PARTICIPANT_PHONE, body="HELP", num_media=0)
    spool_text(folder, later, clock.now(), crisis_answered=False)
    os.utime(folder / "SMspool0004.json", (2_000_000_000, 2_000_000_000))  # after the bad one
    assert replay_spool(services, clock.now()) == 1
    assert _inbound(services, "SMspool0004") is not None
    assert [p.name for p in folder.glob("*.failed")] == ["SMnophone.json.failed"]


def test_a_spool_file_holds_the_text_whole(tmp_path, clock):
    sms = InboundSms(sid="SMspool0003", phone=PARTICIPANT_PHONE, body="ünïcode 7", num_media=2)
    path = spool_text(tmp_path / "spool", sms, clock.now(), crisis_answered=True)
    record = json.loads(path.read_text())
    assert record == {"sid": "SMspool0003", "phone": PARTICIPANT_PHONE, "body": "ünïcode 7",
                      "num_media": 2, "received_at": clock.now().isoformat(),
                      "crisis_answered": True}
    assert [p.name for p in (tmp_path / "spool").iterdir()] == ["SMspool0003.json"]


def test_a_text_stored_just_before_the_database_went_away_is_answered_and_replayed(
        outage, sender, monkeypatch):
    import bot.inbound

    services, sms, proxy = outage
    real = bot.inbound.pipeline._process

    def cut_then_process(*args: Any) -> str:
        proxy.cut()  # the server goes away between the two transactions
        return real(*args)

    monkeypatch.setattr(bot.inbound.pipeline, "_process", cut_then_process)
    crisis = sms.send(PARTICIPANT_PHONE, "i want to end my life", sid="SMdown0200")
    monkeypatch.setattr(bot.inbound.pipeline, "_process", real)
    assert crisis.status_code == 200 and "988" in replies(crisis)[0]
    assert len(sender.bodies_to(STAFF_PHONE)) == 1
    proxy.restore()
    assert replay_spool(services, services.clock.now()) == 1
    with services.db.session() as session:
        rows = session.scalars(select(Message).where(Message.sid == "SMdown0200")).all()
        assert len(rows) == 1 and rows[0].processed_at is not None
        assert session.scalars(select(Escalation)).one().message_id == rows[0].id
        resent = session.scalars(select(Message).join(Outbox, Outbox.message_id == Message.id)
                                 .where(Message.phone == PARTICIPANT_PHONE)).all()
    assert resent == []  # the crisis reply went in the TwiML; it is not queued again


def test_a_repeated_crisis_sid_during_an_outage_alerts_staff_once(outage, sender):
    services, sms, proxy = outage
    proxy.cut()
    first = sms.send(PARTICIPANT_PHONE, "I want to kill myself", sid="SMdown0300")
    repeat = sms.send(PARTICIPANT_PHONE, "I want to kill myself", sid="SMdown0300")
    assert replies(first) == replies(repeat) and "988" in replies(repeat)[0]
    assert len(sender.bodies_to(STAFF_PHONE)) == 1  # a repeated MessageSid changes nothing
    proxy.restore()


def test_recovery_leaves_a_spooled_crisis_text_to_the_replay(outage, monkeypatch, clock):
    import fcntl

    import bot.inbound
    from scheduler.jobs import run_job

    services, sms, proxy = outage
    real = bot.inbound.pipeline._process

    def cut_then_process(*args: Any) -> str:
        proxy.cut()  # stored, then the server goes away before processing
        return real(*args)

    monkeypatch.setattr(bot.inbound.pipeline, "_process", cut_then_process)
    crisis = sms.send(PARTICIPANT_PHONE, "i want to end my life", sid="SMdown0400")
    monkeypatch.setattr(bot.inbound.pipeline, "_process", real)
    assert "988" in replies(crisis)[0]
    proxy.restore()
    folder = spool_path(services)
    fd = os.open(folder / ".replay.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another process is replaying
        run_job(services, "inbound_recovery", clock.advance(timedelta(minutes=5)))
    finally:
        os.close(fd)
    assert replay_spool(services, clock.now()) == 1
    with services.db.session() as session:
        resent = session.scalars(select(Message).join(Outbox, Outbox.message_id == Message.id)
                                 .where(Message.phone == PARTICIPANT_PHONE)).all()
        assert len(session.scalars(select(Escalation)).all()) == 1
    assert resent == []  # the crisis reply went in the TwiML; recovery must not send it again


def test_spooled_texts_are_answered_before_the_text_that_found_the_database_back(outage):
    services, sms, proxy = outage
    proxy.cut()
    sms.send(PARTICIPANT_PHONE, "HELP", sid="SMorder0001")
    proxy.restore()
    assert replies(sms.send(PARTICIPANT_PHONE, "HELP", sid="SMorder0002"))
    with services.db.session() as session:
        answers = session.scalars(select(Message).where(Message.direction == "out",
                                                        Message.phone == PARTICIPANT_PHONE)
                                  .order_by(Message.id)).all()
    # the spooled text's answer (by the outbox) was written before the new text's (TwiML)
    assert [m.status for m in answers] == ["queued", "twiml"]


def test_a_spool_file_without_the_crisis_flag_is_still_replayed(db_app, clock):
    services = db_app.extensions["peerline"]
    folder = spool_path(services)
    folder.mkdir(parents=True)
    (folder / "SMhand0001.json").write_text(json.dumps({
        "sid": "SMhand0001", "phone": PARTICIPANT_PHONE, "body": "7", "num_media": 0,
        "received_at": clock.now().isoformat()}))  # written by hand, say
    assert replay_spool(services, clock.now()) == 1
    assert pending_files(folder) == []


def test_a_text_after_the_server_dropped_every_connection_is_not_an_outage(outage, caplog):
    """A restart leaves the pool's connections dead: the store retries on a new one."""
    services, sms, proxy = outage
    assert replies(sms.send(PARTICIPANT_PHONE, "HELP", sid="SMdrop0001"))  # pools a connection
    proxy.cut()
    proxy.restore()  # every pooled connection is now dead; new ones go through

    answered = sms.send(PARTICIPANT_PHONE, "HELP", sid="SMdrop0002")

    assert answered.status_code == 200 and replies(answered)
    assert pending_files(spool_path(services)) == []  # stored and answered, not spooled
    stored = _inbound(services, "SMdrop0002")
    assert stored is not None and stored.processed_at is not None
    assert "storing the text on a new one" in caplog.text
