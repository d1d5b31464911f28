"""SPEC §11 through the webhook and `tick`: inbox, relay, contact log, COACH requests, hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.inbound.coach_connect import HELP
from bot.inbound.consent import opt_out
from bot.models import Contact, Escalation, InboxItem, Message, Outbox
from bot.sms import segments_for
from scheduler.jobs import run_job
from tests.conftest import COACH_PHONE, PARTICIPANT_PHONE, START, Sms, make_config, replies

STAFF = "+12025550199"
WORDS = "could you ask Alex to call me tonight about my knee"


@pytest.fixture
def config(db_url):
    return make_config(db_url, safety__staff_phones=[STAFF])


def _rows(services, model, *where):
    with services.db.session() as session:
        return list(session.scalars(select(model).where(*where).order_by(model.id)))


def _drain(services, clock):
    """Run the outbox job once; return what reached each phone."""
    run_job(services, "outbox", clock.now())


def test_fallback_goes_to_the_inbox_and_the_coach_gets_a_notice_without_words(
        sms, services, people, sender, clock):
    answer = replies(sms.send(PARTICIPANT_PHONE, WORDS))
    assert answer[0] == "Thanks, Sam. I passed your words to Alex, your coach."
    assert "only knows a few words" in answer[1]  # the menu still follows
    [item] = _rows(services, InboxItem)
    assert item.coach_id == people["coach"] and item.read_at is None
    assert item.notified_at == START
    _drain(services, clock)
    pid = people["participant"]
    assert sender.bodies_to(COACH_PHONE) == [
        f"PeerLine: Sam (P{pid}) sent you a message. Reply TEXT P{pid} your words, "
        "or open the dashboard"]
    # a second text within the hour: in the inbox, no second notice
    clock.advance(timedelta(minutes=40))
    replies(sms.send(PARTICIPANT_PHONE, "also my back"))
    _drain(services, clock)
    assert len(_rows(services, InboxItem)) == 2 and len(sender.bodies_to(COACH_PHONE)) == 1
    clock.advance(timedelta(minutes=30))  # an hour after the first notice
    replies(sms.send(PARTICIPANT_PHONE, "and my sleep"))
    _drain(services, clock)
    assert len(sender.bodies_to(COACH_PHONE)) == 2
    for body in sender.bodies_to(COACH_PHONE):  # never the veteran's words
        assert "knee" not in body and "back" not in body and "sleep" not in body


def test_the_notice_waits_for_the_end_of_the_coachs_quiet_hours(sms, services, people,
                                                                 sender, clock):
    clock.set(datetime(2026, 12, 8, 3, 30, tzinfo=UTC))  # 22:30 in New York
    replies(sms.send(PARTICIPANT_PHONE, WORDS))
    _drain(services, clock)
    assert sender.bodies_to(COACH_PHONE) == []
    [row] = _rows(services, Outbox, Outbox.kind == "inbox_notice")
    assert row.state == "pending" and row.due_at == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    clock.set(datetime(2026, 12, 8, 14, 0, tzinfo=UTC))  # 09:00
    _drain(services, clock)
    assert len(sender.bodies_to(COACH_PHONE)) == 1


def test_coach_quiet_hours_are_their_own_setting_in_their_zone(db_url, clock, sender):
    from tests.conftest import Sms, enrolled_app

    services, app = enrolled_app(make_config(db_url, program__coach_quiet_hours="23:00-07:00"),
                                 clock, sender)
    try:
        clock.set(datetime(2026, 12, 8, 3, 30, tzinfo=UTC))  # 22:30 in New York: coach awake
        Sms(app.test_client()).send(PARTICIPANT_PHONE, WORDS)
        _drain(services, clock)
        assert len(sender.bodies_to(COACH_PHONE)) == 1
    finally:
        services.db.dispose()


def test_a_crisis_alert_never_waits_for_the_coach(sms, services, people, sender, clock):
    clock.set(datetime(2026, 12, 8, 3, 30, tzinfo=UTC))  # 22:30 in New York
    replies(sms.send(PARTICIPANT_PHONE, "I want to kill myself"))
    _drain(services, clock)
    assert any("URGENT" in body for body in sender.bodies_to(COACH_PHONE))


def test_text_relays_through_the_program_number_signed_and_replies_come_back(
        sms, services, people, sender, clock):
    pid = people["participant"]
    answer = replies(sms.send(COACH_PHONE, f"TEXT P{pid} Hi Sam, free for a call Thursday?"))
    assert answer == [f"Sent to Sam (P{pid}) from the program number. "
                      "Replies come to your inbox."]
    _drain(services, clock)
    assert sender.bodies_to(PARTICIPANT_PHONE) == ["Hi Sam, free for a call Thursday? -Alex"]
    assert all(COACH_PHONE not in body for body in sender.bodies_to(PARTICIPANT_PHONE))
    [contact] = _rows(services, Contact)
    assert (contact.kind, contact.via, contact.coach_id) == ("text", "relay", people["coach"])
    # the veteran answers: to the inbox, told it went to Alex, no automated menu
    clock.advance(timedelta(hours=3))
    assert replies(sms.send(PARTICIPANT_PHONE, "Thursday works")) == ["Sent to Alex."]
    assert len(_rows(services, InboxItem)) == 1
    clock.advance(timedelta(hours=46))  # 49 h after the relay: the menu again
    answer = replies(sms.send(PARTICIPANT_PHONE, "thanks for the call"))
    assert len(answer) == 2 and "only knows a few words" in answer[1]
    assert len(_rows(services, InboxItem)) == 2


def test_a_plain_number_names_the_veteran_too(sms, services, people, sender, clock):
    pid = people["participant"]
    assert replies(sms.send(COACH_PHONE, f"text {pid} hello"))[0].startswith("Sent to Sam")


def test_text_in_quiet_hours_says_when_it_goes(sms, services, people, clock):
    clock.set(datetime(2026, 12, 8, 3, 30, tzinfo=UTC))  # 22:30 in New York
    pid = people["participant"]
    answer = replies(sms.send(COACH_PHONE, f"TEXT P{pid} sleep well"))
    assert answer == [f"Queued for Sam (P{pid}); it's quiet hours there, so it goes "
                      "Tue 09:00 their time. Replies come to your inbox."]


def test_text_and_log_refuse_someone_elses_or_an_unknown_veteran(sms, services, people, other):
    kim = other["participant"]
    assert replies(sms.send(COACH_PHONE, f"TEXT P{kim} hi")) == [
        f"P{kim} is not one of yours. Nothing was sent."]
    assert replies(sms.send(COACH_PHONE, "TEXT P99 hi")) == [
        "P99 is not one of yours. Nothing was sent."]
    assert replies(sms.send(COACH_PHONE, f"LOG {kim} call 10")) == [
        f"P{kim} is not one of yours. Nothing was logged."]
    assert _rows(services, Outbox) == [] and _rows(services, Contact) == []


def test_text_refusals_empty_too_long_opted_out(sms, services, people, clock):
    pid = people["participant"]
    assert replies(sms.send(COACH_PHONE, f"TEXT P{pid}")) == [
        f"What should Sam read? Write it after the number: TEXT P{pid} your words"]
    assert replies(sms.send(COACH_PHONE, "TEXT")) == [
        "Which one? Write TEXT and the number, e.g. TEXT P3 your words."]
    long = "word " * 100
    answer = replies(sms.send(COACH_PHONE, f"TEXT P{pid} {long}"))[0]
    assert answer.startswith("That is 505 characters (4 texts); keep it to 3 texts")
    with services.db.session() as session:
        opt_out(session, pid, method="test", now=clock.now())
    answer = replies(sms.send(COACH_PHONE, f"TEXT P{pid} hi"))[0]
    assert answer.startswith("Sam (P3) texted STOP and gets no texts, so nothing was sent"
                             .replace("P3", f"P{pid}"))
    assert _rows(services, Outbox, Outbox.to_participant.is_(True)) == []


def test_smart_quotes_and_ellipsis_are_sent_as_gsm7(sms, services, people, sender, clock):
    pid = people["participant"]
    words = ("\u201cPacing\u201d is what we talked about \u2014 don\u2019t push it\u2026 "
             "Try 20 minutes on, 10 off, and tell me how it goes on Friday, ok? Rest well")
    assert len(words) < 152
    replies(sms.send(COACH_PHONE, f"TEXT P{pid} {words}"))
    _drain(services, clock)
    [body] = sender.bodies_to(PARTICIPANT_PHONE)
    assert body.startswith("\"Pacing\" is what we talked about - don't push it... Try")
    assert segments_for(body) == 1


def test_log_records_a_contact_with_minutes_topics_and_note(sms, services, people):
    pid = people["participant"]
    assert replies(sms.send(COACH_PHONE, f"LOG P{pid} call 20 pacing, goal")) == [
        f"Logged: call, 20 min with Sam (P{pid})."]
    assert replies(sms.send(COACH_PHONE, f"log {pid} tried")) == [
        f"Logged: tried with Sam (P{pid})."]
    assert replies(sms.send(COACH_PHONE, f"LOG P{pid} lunch")) == [
        "Say what kind of contact: LOG 3 call 20 note (call, visit, text or tried; minutes "
        "and note optional)."]
    call, tried = _rows(services, Contact)
    assert (call.kind, call.minutes, call.topics, call.note, call.via) == (
        "call", 20, ["pacing"], "pacing, goal", "sms")
    assert (tried.kind, tried.minutes) == ("tried", None)


def test_help_lists_every_coach_command_with_its_arguments(sms, people):
    answer = replies(sms.send(COACH_PHONE, "HELP"))
    assert answer == HELP
    text = " ".join(answer)
    for command in ("QUEUE", "OK 12", "NO 12", "EDIT 12 new text", "ACK 12",
                    "TEXT P3 your words", "LOG P3 call 20", "RESUME P3"):
        assert command in text
    assert "dashboard" in text.split("RESUME")[1]  # after a crisis pause: on the dashboard
    assert all(segments_for(part) <= 2 for part in answer)


def test_coach_opens_a_request_the_coach_acks_and_staff_get_it_after_24h(
        sms, services, people, sender, clock):
    answer = replies(sms.send(PARTICIPANT_PHONE, "COACH"))
    assert "I've let Alex know" in answer[0]
    [request] = _rows(services, Escalation)
    assert request.kind == "coach_request" and not request.urgent
    _drain(services, clock)
    [alert] = sender.bodies_to(COACH_PHONE)
    assert f"#{request.id}" in alert and f"ACK {request.id}" in alert
    run_job(services, "staff_escalations", START + timedelta(hours=3))  # not after 2 h
    assert _rows(services, Escalation)[0].staff_notified_at is None
    run_job(services, "staff_escalations", START + timedelta(hours=24))
    assert _rows(services, Escalation)[0].staff_notified_at is not None
    clock.advance(timedelta(hours=24))
    _drain(services, clock)
    assert len(sender.bodies_to(STAFF)) == 1


def test_an_acked_request_never_reaches_staff(sms, services, people, sender, clock):
    replies(sms.send(PARTICIPANT_PHONE, "talk"))
    [request] = _rows(services, Escalation)
    assert replies(sms.send(COACH_PHONE, f"ACK #{request.id}")) == [
        f"Escalation #{request.id} acknowledged. Thank you."]
    run_job(services, "staff_escalations", START + timedelta(hours=25))
    assert _rows(services, Escalation)[0].staff_notified_at is None


def test_a_non_urgent_escalation_at_night_waits_and_staff_wait_with_it(
        sms, services, people, sender, clock):
    night = datetime(2026, 12, 8, 3, 30, tzinfo=UTC)  # 22:30 in New York
    clock.set(night)
    replies(sms.send(PARTICIPANT_PHONE, "COACH"))
    [request] = _rows(services, Escalation)
    assert request.coach_notified_at == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    _drain(services, clock)
    assert sender.bodies_to(COACH_PHONE) == []


def test_contact_due_reminds_once_per_period_in_the_coachs_day(sms, services, people,
                                                               sender, clock):
    pid = people["participant"]
    due = START + timedelta(days=14)
    assert run_job(services, "contact_due", due - timedelta(minutes=1)).startswith("0 ")
    night = datetime(2026, 12, 22, 3, 0, tzinfo=UTC)  # 14 days and 12 h: 22:00 in New York
    assert run_job(services, "contact_due", night).startswith("1 contact-due")
    assert run_job(services, "contact_due", night).startswith("0 ")  # fires once
    clock.set(night)
    _drain(services, clock)
    assert sender.bodies_to(COACH_PHONE) == []  # the coach's night
    clock.set(datetime(2026, 12, 22, 14, 0, tzinfo=UTC))
    _drain(services, clock)
    assert sender.bodies_to(COACH_PHONE) == [
        f"PeerLine: contact due with Sam (P{pid}): no call, visit or text in 14 days. "
        f"After you talk, reply LOG P{pid} call MINUTES"]
    # a call resets the period; automated texts and 'tried' do not
    replies(sms.send(COACH_PHONE, f"LOG P{pid} tried"))
    assert run_job(services, "contact_due", clock.now()).startswith("0 ")
    replies(sms.send(COACH_PHONE, f"LOG P{pid} call 15"))
    assert run_job(services, "contact_due", clock.now() + timedelta(days=13)).startswith("0 ")
    assert run_job(services, "contact_due", clock.now() + timedelta(days=14)).startswith("1 ")
    # a second period without contact (overdue) reminds once more
    assert run_job(services, "contact_due", clock.now() + timedelta(days=28)).startswith("1 ")


def test_no_coach_bound_text_carries_the_veterans_words(sms, services, people, sender, clock):
    pid = people["participant"]
    secret = "zebra umbrella"
    replies(sms.send(PARTICIPANT_PHONE, f"my {secret} hurts"))
    replies(sms.send(PARTICIPANT_PHONE, "COACH"))
    replies(sms.send(COACH_PHONE, f"TEXT P{pid} ok"))
    replies(sms.send(PARTICIPANT_PHONE, f"{secret} again"))
    run_job(services, "contact_due", START + timedelta(days=15))
    clock.set(START + timedelta(days=15))
    _drain(services, clock)
    with services.db.session() as session:
        to_coach = session.scalars(select(Message.body).where(
            Message.direction == "out", Message.phone == COACH_PHONE)).all()
    assert len(to_coach) >= 4
    assert all("zebra" not in body and "umbrella" not in body for body in to_coach)


def test_queue_keeps_a_draft_quoting_the_veterans_goal_off_the_coachs_phone(sms, services,
                                                                             people):
    for text in ("GOAL", "walk to the mailbox daily", "mon wed fri", "8"):
        replies(sms.send(PARTICIPANT_PHONE, text))
    with services.db.session() as session:
        from bot.models import Nudge
        [draft] = session.scalars(select(Nudge)).all()
    assert "walk to the mailbox daily" in draft.body  # the veteran reads their own goal
    [answer] = replies(sms.send(COACH_PHONE, "QUEUE"))
    assert "mailbox" not in answer
    assert f"#{draft.id} Sam: (it quotes their words: read it on the dashboard)" in answer


def test_the_daily_digest_waits_for_the_end_of_the_coachs_quiet_hours(services, people,
                                                                      sender, clock):
    from bot.domain.nudges import draft_nudge
    from bot.models import Participant

    with services.db.session() as session:
        sam = session.get(Participant, people["participant"])
        draft_nudge(session, sam, body="Keep going", reason="t", source="t", event_key="t:1",
                    due_at=START, now=START)
    eight = datetime(2026, 12, 8, 13, 0, tzinfo=UTC)  # 08:00 in New York: still quiet
    assert run_job(services, "coach_digests", eight) == "1 coach digests queued"
    clock.set(eight)
    _drain(services, clock)
    assert sender.bodies_to(COACH_PHONE) == []
    clock.set(datetime(2026, 12, 8, 14, 0, tzinfo=UTC))
    _drain(services, clock)
    assert sender.bodies_to(COACH_PHONE)[0].startswith("PeerLine: 1 draft waits")


def test_inbox_relay_log_and_contact_due_on_both_databases(db_app, clock):
    services = db_app.extensions["peerline"]
    client_sms = Sms(db_app.test_client())
    assert replies(client_sms.send(PARTICIPANT_PHONE, WORDS))[0].startswith("Thanks, Sam.")
    pid = _rows(services, InboxItem)[0].participant_id
    assert replies(client_sms.send(COACH_PHONE, f"TEXT P{pid} hi"))[0].startswith("Sent to Sam")
    assert replies(client_sms.send(COACH_PHONE, f"LOG {pid} visit 30 pacing"))[0].startswith(
        "Logged: visit, 30 min")
    later = clock.now() + timedelta(days=15)
    assert run_job(services, "contact_due", later).startswith("1 contact-due")
    assert run_job(services, "contact_due", later).startswith("0 contact-due")
    assert run_job(services, "staff_escalations", later).startswith("0 escalations")
