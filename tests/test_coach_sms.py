"""Coach SMS commands through the webhook: QUEUE, OK, NO, EDIT, ACK, RESUME, mistakes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.domain.escalations import open_escalation
from bot.domain.nudges import draft_nudge, pause_for_participant
from bot.inbound.coach_connect import HELP
from bot.inbound.coach_sms import REPLY_CHARS, USAGE
from bot.models import AuditLog, Coach, Escalation, Message, Nudge, Participant
from tests.conftest import COACH_PHONE, START, replies


def _draft(services, participant_id, body="Keep going, Sam", key=None, due=START):
    with services.db.session() as session:
        participant = session.get(Participant, participant_id)
        key = key or f"k:{participant_id}:{hash(body)}"
        nudge = draft_nudge(session, participant, body=body, reason="test", source="test",
                            event_key=key, due_at=due, now=START)
        return nudge.id


def _nudge(services, nudge_id):
    with services.db.session() as session:
        return session.get(Nudge, nudge_id)


def test_queue_lists_own_pending_drafts(sms, services, people, other):
    mine = _draft(services, people["participant"], "Hi Sam, how did pacing go?")
    _draft(services, other["participant"], "Hi Kim")
    answer = replies(sms.send(COACH_PHONE, "queue"))
    assert len(answer) == 1
    assert f"#{mine} Sam: Hi Sam, how did pacing go?" in answer[0]
    assert "Kim" not in answer[0]


def test_queue_splits_and_trims_for_sms(sms, services, people):
    for n in range(30):
        _draft(services, people["participant"], f"Draft {n} " + "words " * 40)
    answer = replies(sms.send(COACH_PHONE, "QUEUE"))
    assert 1 < len(answer) <= 3
    assert all(len(text) <= REPLY_CHARS + 40 for text in answer)
    assert "more on the dashboard" in answer[-1]
    assert "..." in answer[0] and "…" not in answer[0]  # plain GSM-7, one segment


def test_empty_queue(sms, people):
    assert replies(sms.send(COACH_PHONE, "QUEUE")) == ["No drafts are waiting for you."]


def test_ok_approves_and_queues_the_nudge(sms, services, people):
    nudge_id = _draft(services, people["participant"])
    answer = replies(sms.send(COACH_PHONE, f"OK {nudge_id}"))
    assert answer == [f"#{nudge_id} approved; it goes to Sam now."]
    nudge = _nudge(services, nudge_id)
    assert nudge.status == "approved" and nudge.message_id is not None
    with services.db.session() as session:
        audit = session.scalar(select(AuditLog).where(AuditLog.action == "nudge.approve"))
        assert audit.actor == f"sms:coach:{people['coach']}" and audit.target_id == nudge_id
    again = replies(sms.send(COACH_PHONE, f"ok #{nudge_id}"))
    assert again == [f"#{nudge_id} was already approved."]


def test_ok_says_when_a_later_nudge_goes(sms, services, people):
    nudge_id = _draft(services, people["participant"], due=START + timedelta(days=1, hours=1))
    assert replies(sms.send(COACH_PHONE, f"OK {nudge_id}")) == [
        f"#{nudge_id} approved; it goes to Sam Tue 11:00 their time."]


def test_a_draft_past_its_lateness_is_not_approved_as_if_it_would_go(sms, services, people):
    """Drafts default to 12 hours of lateness: the coach must not hear 'it goes to Sam now'."""
    stale = _draft(services, people["participant"], due=START - timedelta(hours=13))
    edited = _draft(services, people["participant"], key="edited", due=START - timedelta(hours=13))
    assert replies(sms.send(COACH_PHONE, f"OK {stale}")) == [
        f"#{stale} expired (too late to send); Sam won't get it."]
    assert replies(sms.send(COACH_PHONE, f"EDIT {edited} Thinking of you, Sam")) == [
        f"#{edited} expired (too late to send); Sam won't get it."]
    for nudge_id in (stale, edited):
        nudge = _nudge(services, nudge_id)
        assert (nudge.status, nudge.message_id) == ("expired", None)
    assert replies(sms.send(COACH_PHONE, f"OK {stale}")) == [
        f"#{stale} expired (too late to send)."]
    with services.db.session() as session:
        assert session.scalars(select(Message).where(Message.kind == "nudge")).all() == []


def test_edit_is_held_for_the_dashboard(sms, services, people, sender):
    """A sender number can be spoofed: new words by text wait for a signed-in confirmation."""
    nudge_id = _draft(services, people["participant"])
    answer = replies(sms.send(COACH_PHONE, f"EDIT {nudge_id} Sam, proud of you. Alex"))
    assert answer == [f"#{nudge_id} edit saved, not sent. To send it, confirm it on the "
                      "dashboard."]
    nudge = _nudge(services, nudge_id)
    assert (nudge.status, nudge.body, nudge.sms_edit_body) == (
        "pending", "Keep going, Sam", "Sam, proud of you. Alex")
    with services.db.session() as session:
        assert session.scalars(select(Message).where(Message.kind == "nudge")).all() == []
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "nudge.sms_edit")).all()
        assert [a.target_id for a in audit] == [nudge_id]
    # a spoofed OK afterwards sends the program's draft, never the texted words
    assert "approved" in replies(sms.send(COACH_PHONE, f"OK {nudge_id}"))[0]
    nudge = _nudge(services, nudge_id)
    assert (nudge.status, nudge.body, nudge.sms_edit_body) == ("approved", "Keep going, Sam",
                                                              None)


@pytest.mark.parametrize(("command", "sent"), [
    ("EDIT {id} :) Proud of you, Sam", ":) Proud of you, Sam"),
    ("EDIT {id} -5 out there today, Sam. Stay warm", "-5 out there today, Sam. Stay warm"),
    ("EDIT {id} ...and breathe, Sam", "...and breathe, Sam"),
    ("EDIT #{id}: Proud of you, Sam", "Proud of you, Sam"),
    ("EDIT {id} - Proud of you, Sam", "Proud of you, Sam"),
    ("edit {id}. Proud of you", "Proud of you"),
])
def test_edit_keeps_the_coachs_words(sms, services, people, command, sent):
    nudge_id = _draft(services, people["participant"])
    assert "edit saved" in replies(sms.send(COACH_PHONE, command.format(id=nudge_id)))[0]
    assert _nudge(services, nudge_id).sms_edit_body == sent


def test_edit_without_text_changes_nothing(sms, services, people):
    nudge_id = _draft(services, people["participant"])
    assert "EDIT" in replies(sms.send(COACH_PHONE, f"EDIT {nudge_id}"))[0]
    assert _nudge(services, nudge_id).status == "pending"


def test_no_rejects(sms, services, people):
    nudge_id = _draft(services, people["participant"])
    assert replies(sms.send(COACH_PHONE, f"NO {nudge_id}")) == [
        f"#{nudge_id} rejected; Sam won't get it."]
    assert _nudge(services, nudge_id).status == "rejected"


def test_plain_answers_to_mistakes(sms, services, people, other):
    theirs = _draft(services, other["participant"], "Hi Kim")
    assert replies(sms.send(COACH_PHONE, f"OK {theirs}")) == [f"#{theirs} is not one of yours."]
    assert replies(sms.send(COACH_PHONE, f"EDIT {theirs} hijack")) == [
        f"#{theirs} is not one of yours."]
    untouched = _nudge(services, theirs)
    assert (untouched.status, untouched.body) == ("pending", "Hi Kim")
    assert replies(sms.send(COACH_PHONE, "OK 999")) == ["There is no draft #999."]
    assert replies(sms.send(COACH_PHONE, "OK")) == [
        "Which one? Write OK and the number, e.g. OK 12."]
    assert replies(sms.send(COACH_PHONE, "hello there")) == [USAGE]


def test_already_sent(sms, services, people):
    nudge_id = _draft(services, people["participant"])
    with services.db.session() as session:
        session.get(Nudge, nudge_id).status = "sent"
    assert replies(sms.send(COACH_PHONE, f"OK {nudge_id}")) == [f"#{nudge_id} was already sent."]


def test_a_paused_draft_needs_resume(sms, services, people):
    nudge_id = _draft(services, people["participant"])
    with services.db.session() as session:
        pause_for_participant(session, people["participant"], START)
    pid = people["participant"]
    refused = replies(sms.send(COACH_PHONE, f"OK {nudge_id}"))[0]
    assert "paused" in refused and f"text RESUME {pid}" in refused  # says how, not just what
    assert f"then OK {nudge_id}" in refused and len(refused) <= 160
    assert replies(sms.send(COACH_PHONE, f"RESUME P{pid}")) == [
        f"Nudges for Sam (P{pid}) stay paused after a crisis. To resume them, use the "
        "dashboard."]
    with services.db.session() as session:  # a spoofed sender must not lift a crisis pause
        assert session.get(Participant, pid).nudges_paused is True
    assert "paused" in replies(sms.send(COACH_PHONE, f"OK {nudge_id}"))[0]


def test_ack_acknowledges_own_escalations_only(sms, services, people, other):
    with services.db.session() as session:
        mine = open_escalation(session, services, session.get(Participant, people["participant"]),
                               kind="flow", reason="No answer", event_key="e1", now=START).id
        theirs = open_escalation(session, services, session.get(Participant, other["participant"]),
                                 kind="flow", reason="No answer", event_key="e2", now=START).id
    assert replies(sms.send(COACH_PHONE, f"ACK {theirs}")) == [f"#{theirs} is not one of yours."]
    assert replies(sms.send(COACH_PHONE, f"ACK {mine}")) == [
        f"Escalation #{mine} acknowledged. Thank you."]
    assert replies(sms.send(COACH_PHONE, f"ack {mine}")) == [f"#{mine} was already acknowledged."]
    assert replies(sms.send(COACH_PHONE, "ACK 999")) == ["There is no escalation #999."]
    with services.db.session() as session:
        escalation = session.get(Escalation, mine)
        assert escalation.acknowledged_by_id == people["coach"]
        assert session.get(Escalation, theirs).acknowledged_at is None
        assert session.get(Coach, people["coach"]).phone == COACH_PHONE


def test_a_paused_draft_can_still_be_rejected(sms, services, people):
    nudge_id = _draft(services, people["participant"])
    with services.db.session() as session:
        pause_for_participant(session, people["participant"], START)
    assert "paused" in replies(sms.send(COACH_PHONE, f"EDIT {nudge_id} new words"))[0]
    assert "paused" not in replies(sms.send(COACH_PHONE, f"NO {nudge_id}"))[0]
    with services.db.session() as session:
        assert session.get(Nudge, nudge_id).status == "rejected"


def test_a_coach_in_crisis_gets_the_crisis_line_and_staff_are_texted(db_url, clock, sender):
    from bot.models import Message, Outbox
    from tests.conftest import Sms, enrolled_app, make_config

    services, app = enrolled_app(make_config(db_url, safety__staff_phones=["+12025550199"]),
                                 clock, sender)
    sms = Sms(app.test_client())
    try:
        answer = replies(sms.send(COACH_PHONE, "honestly some days I want to die too"))
        assert len(answer) == 1 and "988" in answer[0]
        assert replies(sms.send(COACH_PHONE, "help")) == HELP  # a command stays one
        with services.db.session() as session:
            audit = session.scalars(select(AuditLog).where(
                AuditLog.action == "crisis.not_participant")).one()
            assert audit.detail["sender"].startswith("coach Alex")
            alert = session.scalars(select(Message).join(Outbox, Outbox.message_id == Message.id)
                                    .where(Outbox.kind == "alert")).one()
            assert alert.phone == "+12025550199" and COACH_PHONE in alert.body
            assert "die" not in alert.body
            escalation = session.scalars(select(Escalation)).one()  # staff's, not theirs
            assert (escalation.coach_id, escalation.phone) == (None, COACH_PHONE)
    finally:
        services.db.dispose()


@pytest.mark.parametrize("text", ["No. I want to end my life", "ok i just want to die"])
def test_a_coach_in_crisis_who_starts_with_a_command_word_gets_the_crisis_line(
        db_url, clock, sender, text):
    from tests.conftest import Sms, enrolled_app, make_config

    services, app = enrolled_app(make_config(db_url, safety__staff_phones=["+12025550199"]),
                                 clock, sender)
    sms = Sms(app.test_client())
    try:
        # "NO"/"OK" without a number is no command: it must not hide crisis language
        answer = replies(sms.send(COACH_PHONE, text))
        assert len(answer) == 1 and "988" in answer[0]
        assert replies(sms.send(COACH_PHONE, "ok"))[0].startswith("Which one?")
    finally:
        services.db.dispose()


@pytest.mark.parametrize(("text", "command"), [
    ("QUEUE", True), ("q", True), ("OK 12", True), ("edit #12: thanks", True), ("ACK 7", True),
    ("ok", False), ("No. I want to end my life", False), ("thanks!", False), ("", False),
])
def test_is_command_tells_commands_from_free_words(text, command):
    from bot.inbound.coach_sms import is_command

    assert is_command(text) is command
