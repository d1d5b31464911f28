"""GET /metrics (Prometheus text) and GET /healthz (database and scheduler liveness)."""

from __future__ import annotations

import contextlib
import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.models import Escalation, Outbox, SchedulerState
from bot.outbox.queue import queue_message
from tests.conftest import PARTICIPANT_PHONE, START

SAMPLE = re.compile(r'^([a-z_]+)(\{([a-z_]+="[^"\\]*(?:\\.[^"\\]*)*",?)*\})? (-?[0-9.e+]+)$')


def parse(text: str) -> dict[str, float]:
    """Return {'name{labels}': value}, checking every line is valid exposition syntax."""
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a valid sample line: {line!r}"
        assert match.group(1) in typed, f"sample before its TYPE line: {line!r}"
        samples[line.rsplit(" ", 1)[0]] = float(match.group(4))
    return samples


def test_metrics_counts_messages_outbox_escalations_and_passes(client, sms, services, people,
                                                                clock):
    sms.send(PARTICIPANT_PHONE, "hello")
    sms.send("+12025550177", "who is this?")
    with services.db.session() as session:
        queue_message(session, phone=PARTICIPANT_PHONE, body="nudge", kind="nudge",
                             now=START - timedelta(minutes=10))
        queue_message(session, phone=PARTICIPANT_PHONE, body="later", kind="nudge", now=START,
                      due_at=START + timedelta(hours=2))
        failed = queue_message(session, phone=PARTICIPANT_PHONE, body="x", kind="nudge",
                               now=START)
        session.flush()
        session.scalars(select(Outbox).where(Outbox.message_id == failed.id)).one().state = "failed"
        session.add(Escalation(participant_id=people["participant"], coach_id=people["coach"],
                               kind="crisis", urgent=True, reason="r", event_key="e1",
                               created_at=START))
        session.add(Escalation(participant_id=people["participant"], coach_id=people["coach"],
                               kind="flow", urgent=False, reason="r", event_key="e2",
                               created_at=START, acknowledged_at=START))
        session.add(SchedulerState(name="job:outbox", last_pass_at=START - timedelta(seconds=4),
                                   last_duration_ms=250, holder="host:1"))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    metrics = parse(response.get_data(as_text=True))
    assert metrics["peerline_database_up"] == 1
    assert metrics['peerline_messages_in_total{kind="participant"}'] == 1
    assert metrics['peerline_messages_in_total{kind="unknown"}'] == 1
    # "hello" went to the coach's inbox: 2 replies (passed on + menu), and a queued notice
    assert metrics['peerline_messages_out_total{status="twiml"}'] == 3
    assert metrics['peerline_messages_out_total{status="queued"}'] == 4
    assert metrics['peerline_outbox_depth{state="pending"}'] == 3
    assert metrics['peerline_send_failures_total{state="failed"}'] == 1
    assert metrics["peerline_outbox_oldest_due_age_seconds"] == 600
    assert metrics['peerline_escalations_open{urgent="true"}'] == 1
    assert metrics['peerline_escalations_open{urgent="false"}'] == 0
    assert metrics['peerline_scheduler_pass_duration_seconds{job="outbox"}'] == 0.25
    assert metrics['peerline_scheduler_last_pass_age_seconds{job="outbox"}'] == 4
    assert metrics['peerline_participants{status="active"}'] == 1
    body = response.get_data(as_text=True)
    assert PARTICIPANT_PHONE not in body and "hello" not in body


def test_metrics_on_an_empty_database_reports_zeroes(client):
    metrics = parse(client.get("/metrics").get_data(as_text=True))
    assert metrics["peerline_outbox_oldest_due_age_seconds"] == 0
    assert metrics['peerline_outbox_depth{state="pending"}'] == 0


def _broken_session(*_args, **_kwargs):
    raise OperationalError("SELECT 1", {}, Exception("connection refused"))


def test_database_down_is_reported_with_200_not_a_traceback(client, services, monkeypatch):
    monkeypatch.setattr(services.db, "session", contextlib.contextmanager(_broken_session))
    metrics = client.get("/metrics")
    assert metrics.status_code == 200  # Prometheus keeps only a 2xx scrape's samples
    assert parse(metrics.get_data(as_text=True)) == {
        "peerline_database_up": 0, "peerline_spool_texts": 0,
        "peerline_spool_write_failures_total": 0, "peerline_partial_files_removed_total": 0,
        "peerline_direct_alert_failures_total": 0}
    health = client.get("/healthz")
    assert health.status_code == 200  # the node still spools texts: keep it in rotation
    assert health.json["status"] == "error"
    assert health.json["database"] == "error: OperationalError"


def test_healthz_before_the_scheduler_ever_ran(client):
    body = client.get("/healthz").json
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["scheduler"] == {"state": "never-ran", "jobs": {}}
    assert body["spool"] == 0


def test_texts_waiting_in_the_spool_show_in_healthz_and_metrics(client, services, clock):
    from bot.inbound.spool import spool_path, spool_text
    from bot.inbound.store import InboundSms

    sms = InboundSms(sid="SMwait0001", phone=PARTICIPANT_PHONE, body="7", num_media=0)
    spool_text(spool_path(services), sms, clock.now(), crisis_answered=False)
    body = client.get("/healthz").json
    assert body["spool"] == 1 and body["status"] == "degraded"
    assert parse(client.get("/metrics").get_data(as_text=True))["peerline_spool_texts"] == 1


def test_healthz_reports_each_job_and_marks_stale_ones(client, services, clock):
    with services.db.session() as session:
        session.add(SchedulerState(name="scheduler", holder="host-a:42",
                                   last_pass_at=START - timedelta(seconds=10),
                                   last_duration_ms=40))
        session.add(SchedulerState(name="job:checkins", last_pass_at=START - timedelta(seconds=20),
                                   last_duration_ms=120))
        session.add(SchedulerState(name="digests", last_pass_at=START - timedelta(minutes=30),
                                   last_duration_ms=5))
    body = client.get("/healthz").json
    assert body["scheduler"]["state"] == "ok"
    assert body["scheduler"]["holder"] == "host-a:42"
    jobs = body["scheduler"]["jobs"]
    assert jobs["checkins"]["state"] == "ok"
    assert jobs["checkins"]["age_seconds"] == 20
    assert jobs["checkins"]["duration_ms"] == 120
    assert jobs["digests"]["state"] == "stale"
    assert body["status"] == "degraded"


def test_healthz_and_metrics_read_what_the_scheduler_records(client, services):
    from scheduler.runner import record_pass

    record_pass(services, "scheduler", "host-b:7", START - timedelta(seconds=3), 90)
    record_pass(services, "job:outbox", "host-b:7", START - timedelta(seconds=3), 12)
    body = client.get("/healthz").json
    assert body["scheduler"]["holder"] == "host-b:7"
    assert body["scheduler"]["jobs"]["outbox"]["duration_ms"] == 12
    metrics = parse(client.get("/metrics").get_data(as_text=True))
    assert metrics['peerline_scheduler_pass_duration_seconds{job="outbox"}'] == 0.012
    assert metrics['peerline_scheduler_last_pass_age_seconds{job="scheduler"}'] == 3
