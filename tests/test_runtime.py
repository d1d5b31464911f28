"""Runtime: the webhook routes through the engine and the engine's actions become rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.models import CheckinAnswer, Escalation, Message, Nudge, Outbox, Participant, Run
from bot.runtime.apply import (
    due_expiries,
    due_timeouts,
    expire_run,
    fire_due,
    fire_timeout,
    on_enrolled,
    start_flow,
)
from bot.services import build_services
from tests.conftest import COACH_PHONE, PARTICIPANT_PHONE, make_config, replies

FIXTURE_FLOWS = Path(__file__).parent / "fixtures" / "flows"


@pytest.fixture
def services(db_url, clock, sender):
    """Services over the fixture flows (not the shipped content)."""
    built = build_services(make_config(db_url, flows__dir=str(FIXTURE_FLOWS)), clock=clock,
                           sender=sender)
    yield built
    built.db.dispose()


def _say(sms, text):
    return replies(sms.send(PARTICIPANT_PHONE, text))


def _count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_keyword_run_saves_answers_notifies_coach_and_drafts_nudge(sms, services, people):
    assert "From 0 to 10" in _say(sms, "checkin")[0]
    assert _say(sms, "about a 9") == ["That sounds hard. Alex will check in with you.",
                                      "Did you get out for a walk this week?"]
    assert _say(sms, "yes") == ["Thank you, Sam. Keep going."]
    with services.db.session() as session:
        answers = session.scalars(select(CheckinAnswer).order_by(CheckinAnswer.id)).all()
        assert [(a.variable, a.value) for a in answers] == [("pain", "9"), ("walked", "yes")]
        assert all(a.flow_id == "checkin" and a.run_id and a.asked_at for a in answers)
        notify = session.scalars(select(Message).where(Message.kind == "notify")).one()
        assert notify.phone == COACH_PHONE and "Sam rated pain 9/10" in notify.body
        assert f"P{people['participant']}" in notify.body
        outbox = session.scalars(select(Outbox).where(Outbox.message_id == notify.id)).one()
        # a notice, not a crisis: it waits for the end of the coach's quiet hours
        assert outbox.respect_quiet_hours is True and outbox.to_participant is False
        nudge = session.scalars(select(Nudge)).one()
        assert nudge.status == "pending" and "how is the week going" in nudge.body
        assert nudge.due_at == services.clock.now() + timedelta(days=2)
        assert nudge.max_lateness_seconds == 6 * 3600
        run = session.scalars(select(Run)).one()
        assert run.status == "ended" and run.flow_version and run.trigger == "keyword"


def test_fallback_when_nothing_waits_and_no_keyword(sms, services, people):
    assert _say(sms, "hi 👋") == ["Thanks, Sam. I passed your words to Alex, your coach.",
                                 "Thanks, Sam. Alex will see your message."]


def test_waiting_step_comes_before_keywords(sms, services, people):
    _say(sms, "PAIN")
    assert _say(sms, "welcome") == ["Welcome, Sam! Want to pick skills? Reply YES or NO."]
    _say(sms, "PAIN")
    assert "walk" in _say(sms, "3")[-1]
    with services.db.session() as session:
        assert _count(session, Run, Run.status == "active") == 1


def test_reask_then_end_after_retries(sms, services, people):
    _say(sms, "PAIN")
    assert _say(sms, "lots") == ["Please answer with a number from 0 to 10."]
    assert _say(sms, "7 or 8") == ["Please answer with a number from 0 to 10."]
    assert _say(sms, "??") == []
    with services.db.session() as session:
        assert _count(session, Run, Run.status == "active") == 0


def test_start_flow_queues_texts_after_quiet_hours(services, people, clock):
    night = clock.now().replace(hour=3)  # 22:00 in New York
    with services.db.session() as session:
        participant = session.get(Participant, people["participant"])
        run = start_flow(session, services, participant, "checkin", night)
        assert run is not None and run.waiting and run.trigger == "schedule"
        assert start_flow(session, services, participant, "checkin", night) is None
        outbox = session.scalars(select(Outbox)).one()
        assert outbox.due_at.hour == 14 and outbox.respect_quiet_hours  # 09:00 New York
        assert outbox.message.kind == "flow" and outbox.message.run_id == run.id


def test_timeout_fires_once_and_stale_token_does_nothing(services, people, clock):
    now = clock.now()
    with services.db.session() as session:
        participant = session.get(Participant, people["participant"])
        run = start_flow(session, services, participant, "checkin", now)
        assert run is not None
        run_id, token = run.id, run.wait_token
        assert run.timeout_at == now + timedelta(hours=24)
        assert due_timeouts(session, now) == []
        assert not fire_timeout(session, services, run_id, "stale", now)
    later = now + timedelta(hours=25)
    with services.db.session() as session:
        assert due_timeouts(session, later) == [(run_id, token)]
        assert fire_timeout(session, services, run_id, token, later)
        assert not fire_timeout(session, services, run_id, token, later)
        assert fire_due(session, services, later) == 0
        escalation = session.scalars(select(Escalation)).one()
        assert escalation.reason == "No answer to the weekly check-in"
        assert escalation.kind == "flow" and escalation.run_id == run_id
        assert session.get(Run, run_id).status == "ended"


def test_stop_ends_the_conversation_so_no_timeout_escalates_later(services, people, clock,
                                                                    sms):
    now = clock.now()
    with services.db.session() as session:
        participant = session.get(Participant, people["participant"])
        run = start_flow(session, services, participant, "checkin", now)
        assert run is not None and run.timeout_at is not None
        run_id = run.id
    assert "unsubscribed" in _say(sms, "STOP")[0]
    with services.db.session() as session:
        assert session.get(Run, run_id).status == "ended"
        assert due_timeouts(session, now + timedelta(hours=25)) == []
        assert fire_due(session, services, now + timedelta(hours=25)) == 0
        assert session.scalars(select(Escalation)).all() == []  # no "no answer" to the coach


def test_expiry_ends_quietly(services, people, clock):
    now = clock.now()
    with services.db.session() as session:
        participant = session.get(Participant, people["participant"])
        run = start_flow(session, services, participant, "welcome", now, trigger="keyword")
        run_id = run.id
        assert not expire_run(session, services, run_id, now)
    later = now + timedelta(days=3, seconds=1)
    with services.db.session() as session:
        assert due_expiries(session, later) == [run_id]
        assert fire_due(session, services, later) == 1
        assert session.get(Run, run_id).status == "expired"
        assert _count(session, Outbox) == 1  # only the welcome text; nothing on expiry


def test_handover_and_participant_fields(sms, services, people):
    _say(sms, "WELCOME")
    assert _say(sms, "yeah") == ["Great.", "Which skills? 1 pacing, 2 sleep, 3 breathing"]
    _say(sms, "1 2")
    done = _say(sms, "stretch daily")
    assert done == ["Got it: stretch daily. You picked pacing, sleep."]
    with services.db.session() as session:
        participant = session.get(Participant, people["participant"])
        assert participant.strategies == ["pacing", "sleep"]
        assert participant.fields == {"goal": "stretch daily"}
        runs = session.scalars(select(Run).order_by(Run.id)).all()
        assert [(r.flow_id, r.status, r.trigger) for r in runs] == [
            ("welcome", "ended", "keyword"), ("skills", "ended", "flow")]
        variables = {a.variable: a.value for a in session.scalars(select(CheckinAnswer))}
        assert variables["participant.strategies"] == "pacing;sleep"


def test_on_enrolled_starts_welcome(services, people, clock):
    with services.db.session() as session:
        participant = session.get(Participant, people["participant"])
        on_enrolled(session, services, participant, clock.now())
        run = session.scalars(select(Run)).one()
        assert run.flow_id == "welcome" and run.trigger == "enrolled"




def test_due_queries_and_timeouts_on_every_database(any_db_url, clock, sender):
    """The scheduler's set-based queries and fire-once timeouts, on SQLite and PostgreSQL."""
    from bot.domain.people import add_coach, add_participant

    built = build_services(make_config(any_db_url, flows__dir=str(FIXTURE_FLOWS)), clock=clock,
                           sender=sender)
    now = clock.now()
    try:
        with built.db.session() as session:
            coach = add_coach(session, name="Alex", phone=COACH_PHONE, now=now)
            for index in range(3):
                person = add_participant(session, phone=f"+1202555013{index}", name=f"P{index}",
                                         coach=coach, timezone="America/New_York", now=now)
                start_flow(session, built, person, "checkin", now)
        later = now + timedelta(hours=25)
        with built.db.session() as session:
            assert len(due_timeouts(session, later)) == 3
            assert fire_due(session, built, later) == 3
        with built.db.session() as session:
            assert fire_due(session, built, later) == 0
            assert _count(session, Escalation) == 3
    finally:
        built.db.dispose()


def test_run_finishes_on_the_version_it_started(tmp_path, db_url, clock, sender):
    import os
    import shutil

    from bot.flows.store import FlowStore

    for name in ("checkin.yaml", "fallback.yaml", "safety.yaml"):
        shutil.copy(FIXTURE_FLOWS / name, tmp_path / name)
    built = build_services(make_config(db_url, flows__dir=str(tmp_path)), clock=clock,
                           sender=sender, load_flows=False)
    built.flows = FlowStore(tmp_path, min_interval=0)
    now = clock.now()
    try:
        from bot.domain.people import add_coach, add_participant

        with built.db.session() as session:
            coach = add_coach(session, name="Alex", phone=COACH_PHONE, now=now)
            person = add_participant(session, phone=PARTICIPANT_PHONE, name="Sam", coach=coach,
                                     timezone="America/New_York", now=now)
            run = start_flow(session, built, person, "checkin", now)
            old_version = run.flow_version
        path = tmp_path / "checkin.yaml"
        path.write_text(path.read_text().replace("That sounds hard.", "EDITED."))
        os.utime(path, (1_800_000_000, 1_800_000_000))
        assert built.flows.get("checkin").version != old_version
        with built.db.session() as session:
            person = session.get(Participant, person.id)
            message = type("M", (), {"body": "9"})()
            from bot.runtime.apply import handle_participant_message

            texts = handle_participant_message(session, built, person, message, now)
            assert texts[0].startswith("That sounds hard.")
            new_run = start_flow(session, built, person, "checkin", now, trigger="keyword")
            assert new_run.flow_version != old_version
    finally:
        built.db.dispose()


def test_a_run_finishes_on_its_version_after_a_restart_and_an_edit(tmp_path, db_url, clock,
                                                                    sender):
    import os
    import shutil

    from bot.domain.people import add_coach, add_participant
    from bot.runtime.apply import handle_participant_message

    folder = tmp_path / "flows"
    folder.mkdir()
    for name in ("checkin.yaml", "fallback.yaml", "safety.yaml"):
        shutil.copy(FIXTURE_FLOWS / name, folder / name)
    config = make_config(db_url, flows__dir=str(folder),
                         flows__versions_dir=str(tmp_path / "versions"))
    before = build_services(config, clock=clock, sender=sender)
    now = clock.now()
    with before.db.session() as session:
        coach = add_coach(session, name="Alex", phone=COACH_PHONE, now=now)
        person = add_participant(session, phone=PARTICIPANT_PHONE, name="Sam", coach=coach,
                                 timezone="America/New_York", now=now)
        start_flow(session, before, person, "checkin", now)
    before.db.dispose()
    path = folder / "checkin.yaml"  # staff reword it while Sam's run waits, then restart
    path.write_text(path.read_text().replace("That sounds hard.", "EDITED."))
    os.utime(path, (1_800_000_000, 1_800_000_000))
    after = build_services(config, clock=clock, sender=sender)
    try:
        with after.db.session() as session:
            person = session.get(Participant, person.id)
            message = type("M", (), {"body": "9"})()
            texts = handle_participant_message(session, after, person, message, now)
        assert texts[0].startswith("That sounds hard.")
    finally:
        after.db.dispose()


def test_every_saved_answer_lands_in_the_checkins_export(sms, services, people):
    import io

    from bot.domain.export import write_csv

    _say(sms, "PAIN")
    _say(sms, "7 out of 10")
    _say(sms, "nope")
    out = io.StringIO()
    with services.db.session() as session:
        assert write_csv(session, "checkins", out) == 2
    rows = out.getvalue().splitlines()
    assert rows[0].startswith("participant_id,flow,variable,value,asked_at,answered_at")
    assert rows[1].startswith(f"{people['participant']},checkin,pain,7,")
    assert rows[2].startswith(f"{people['participant']},checkin,walked,no,")
    assert PARTICIPANT_PHONE not in out.getvalue()
