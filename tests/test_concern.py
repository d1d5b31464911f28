"""The concern tier through the webhook and `peerline tick --at` (SPEC §10), on SQLite and
PostgreSQL: asked once, YES upgrades to crisis, NO and silence alert the coach in daytime."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.inbound.concern import ConcernState
from bot.inbound.texts import TOLD_COACH
from bot.models import Concern, Escalation, Message, Outbox
from bot.outbox.queue import PRIORITY_ALERT
from tests.conftest import COACH_PHONE, PARTICIPANT_PHONE, Sms, enrolled_app, make_config, replies

STAFF = "+12025550199"
STRANGER = "+12025550177"
CONCERN = "honestly I cant go on like this"
PEERLINE = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "peerline"
FLOWS = Path(__file__).resolve().parent.parent / "flows"


@pytest.fixture
def world(any_db_url: str, clock: Any, sender: Any) -> Iterator[tuple[Any, Sms]]:
    """Alex and Sam enrolled with one staff phone, on SQLite and on PostgreSQL."""
    services, app = enrolled_app(make_config(any_db_url, safety__staff_phones=[STAFF]),
                                 clock, sender)
    yield services, Sms(app.test_client())
    services.db.dispose()


def _no_reply(services: Any) -> str:
    """Return the shipped answer to NO (flows/safety.yaml)."""
    return str(services.flows.safety.concern_no_reply)


def _concerns(services: Any) -> list[tuple[str, int | None]]:
    with services.db.session() as session:
        return [(c.state, c.escalation_id)
                for c in session.scalars(select(Concern).order_by(Concern.id))]


def _escalations(services: Any) -> list[tuple[str, bool, int]]:
    with services.db.session() as session:
        return [(e.kind, e.urgent, e.texts)
                for e in session.scalars(select(Escalation).order_by(Escalation.id))]


def _coach_alerts(services: Any) -> list[tuple[str, datetime, int]]:
    with services.db.session() as session:
        return [(m.body, o.due_at, o.priority) for o, m in session.execute(
            select(Outbox, Message).join(Message, Message.id == Outbox.message_id)
            .where(Outbox.kind == "alert", Outbox.to_phone == COACH_PHONE)).all()]


def test_concern_asks_once_and_yes_upgrades_to_crisis(world):
    services, sms = world
    first = replies(sms.send(PARTICIPANT_PHONE, CONCERN))
    assert len(first) == 1 and "Reply YES or NO" in first[0] and "838255" in first[0]
    assert "coach" not in first[0]  # nobody was told yet: the reply does not say so
    again = replies(sms.send(PARTICIPANT_PHONE, "nobody would miss me"))
    assert "Reply YES or NO" not in " ".join(again)  # asked once
    assert [state for state, _ in _concerns(services)] == [ConcernState.ASKED]
    assert _escalations(services) == []  # nobody is alerted while the question waits
    answer = replies(sms.send(PARTICIPANT_PHONE, "yes"))
    assert len(answer) == 1 and "838255" in answer[0] and answer[0].endswith(TOLD_COACH)
    assert _escalations(services) == [("crisis", True, 1)]
    assert [state for state, _ in _concerns(services)] == [ConcernState.UPGRADED]
    with services.db.session() as session:
        staff = session.scalars(select(Outbox).where(Outbox.to_phone == STAFF)).all()
        assert len(staff) == 1 and staff[0].priority == 0


def test_concern_then_a_crisis_text_upgrades_it(world):
    services, sms = world
    sms.send(PARTICIPANT_PHONE, CONCERN)
    answer = replies(sms.send(PARTICIPANT_PHONE, "I want to kill myself"))
    assert answer[0].endswith(TOLD_COACH) and "Reply YES or NO" not in answer[0]
    assert [state for state, _ in _concerns(services)] == [ConcernState.UPGRADED]
    assert _escalations(services) == [("crisis", True, 1)]


def test_concern_no_alerts_the_coach_not_urgent_and_yes_is_ordinary_afterwards(world):
    services, sms = world
    sms.send(PARTICIPANT_PHONE, CONCERN)
    answer = replies(sms.send(PARTICIPANT_PHONE, "nope"))
    assert answer == [_no_reply(services)]
    assert _escalations(services) == [("concern", False, 1)]
    assert [state for state, _ in _concerns(services)] == [ConcernState.DECLINED]
    (body, due, priority), = _coach_alerts(services)
    assert "Sam (P" in body and "cant go on" not in body and "said NO" in body
    assert due == services.clock.now() and priority == PRIORITY_ALERT  # 10:00 in New York
    later = replies(sms.send(PARTICIPANT_PHONE, "yes"))  # the question is closed
    assert "838255" not in " ".join(later)
    assert _escalations(services) == [("concern", False, 1)]


def test_a_concern_answer_at_night_reaches_the_coach_in_the_morning(world, clock):
    services, sms = world
    clock.set(datetime(2026, 12, 8, 4, 0, tzinfo=UTC))  # 23:00 in New York
    sms.send(PARTICIPANT_PHONE, CONCERN)
    sms.send(PARTICIPANT_PHONE, "no")
    assert len(_coach_alerts(services)) == 1
    with services.db.session() as session:  # the sender holds it until the coach's morning
        row = session.scalars(select(Outbox).where(Outbox.to_phone == COACH_PHONE,
                                                   Outbox.kind == "alert")).one()
        assert row.respect_quiet_hours
        notified = session.scalars(select(Escalation.coach_notified_at)).one()
        assert notified == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)  # 09:00 in the coach's zone
    with services.db.session() as session:  # not urgent: staff are not woken
        assert session.scalars(select(Outbox).where(Outbox.to_phone == STAFF)).all() == []


def test_the_concern_answer_goes_before_a_waiting_step_only_while_it_is_open(world):
    services, sms = world
    welcome = replies(sms.send(PARTICIPANT_PHONE, "WELCOME"))
    assert "Reply YES or NO" in welcome[-1]  # the welcome flow waits for yes/no
    sms.send(PARTICIPANT_PHONE, CONCERN)
    assert replies(sms.send(PARTICIPANT_PHONE, "no")) == [_no_reply(services)]
    after = replies(sms.send(PARTICIPANT_PHONE, "yes"))  # now the flow's answer
    assert after and "838255" not in " ".join(after) and "skills" in " ".join(after).lower()


def _tick(url: str, tmp_path: Path, at: datetime) -> str:
    config = tmp_path / "peerline.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[flows]\ndir = "{FLOWS}"\n'
                      f'[safety]\nstaff_phones = ["{STAFF}"]\n'
                      "[twilio]\nmax_messages_per_second = 1000.0\n")
    config.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERLINE_")}
    done = subprocess.run([str(PEERLINE), "tick", "--at", at.isoformat(), "--config",
                           str(config)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_no_answer_in_30_minutes_alerts_the_coach_once(world, any_db_url, tmp_path):
    services, sms = world
    sms.send(PARTICIPANT_PHONE, CONCERN)
    asked = services.clock.now()
    early = _tick(any_db_url, tmp_path, asked + timedelta(minutes=29))
    assert "0 unanswered concern questions" in early
    late = _tick(any_db_url, tmp_path, asked + timedelta(minutes=31))
    assert "1 unanswered concern questions sent to coaches" in late
    assert "[sms to +12025550101] PeerLine Escalation #1: Sam (P1): Worrying words" in late
    assert "cant go on" not in late
    again = _tick(any_db_url, tmp_path, asked + timedelta(minutes=32))
    assert "0 unanswered concern questions" in again and "[sms to" not in again
    assert _escalations(services) == [("concern", False, 1)]
    assert [state for state, _ in _concerns(services)] == [ConcernState.SILENT]
    late_yes = replies(sms.send(PARTICIPANT_PHONE, "yes"))  # the question timed out
    assert "838255" not in " ".join(late_yes)


def test_a_strangers_concern_tells_staff_and_their_yes_is_a_crisis(world):
    services, sms = world
    first = replies(sms.send(STRANGER, CONCERN))
    assert "Reply YES or NO" in first[0]
    with services.db.session() as session:
        staff = session.scalars(select(Outbox).where(Outbox.to_phone == STAFF)).all()
        assert [row.priority for row in staff] == [PRIORITY_ALERT]
    answer = replies(sms.send(STRANGER, "yes"))
    assert "838255" in answer[0] and "coach" not in answer[0]
    assert _escalations(services) == [("concern", False, 1), ("crisis", True, 1)]
    assert _concerns(services) == []  # no participant: escalations on the number only
