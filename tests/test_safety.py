"""Crisis first (SPEC §6.3): the safety phrases, both sides, and the crisis handler."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.flows.safety import SafetyMatcher, load_safety
from bot.flows.safety_matcher import required_literals
from bot.models import Escalation, Message, Nudge, Outbox, Participant, Run
from bot.outbox.queue import PRIORITY_CRISIS_OTHER
from tests.conftest import COACH_PHONE, PARTICIPANT_PHONE, make_config, replies

SHIPPED = Path(__file__).parent.parent / "flows" / "safety.yaml"

CRISIS = [
    "I want to die", "i just want to die.", "I WANT TO DIE", "wanna die", "I wanna die tbh",
    "I'm going to kill myself", "kill myself", "k i l l myself", "kill my self", "killmyself",
    "I want to end my life", "everyone is better off dead... I'm better off dead",
    "there's no reason to live", "I've been thinking about suicide", "feeling suicidal",
    "suicidel", "im sucidal", "I want to end it all", "want to diiiie", "I wish I was dead",
    "I don't want to live anymore", "nothing to live for", "Kill. Myself.",
    "my back is killing me and I want to die",
]
NOT_CRISIS = [
    "my back is killing me", "this pain is killing me", "I could die for some sleep",
    "the weekend it all went wrong", "I'm dying to see my grandkids", "killing it at PT",
    "that pie was to die for", "I hurt my back", "skills", "checkin", "7", "",
    "🙂🙂🙂", "痛い", "Let's end this check-in", "my life is busy",
]


@pytest.mark.parametrize("pattern,literals", [
    (r"\b(?:took|swallow\w*|pills?) x", ("took", "swallow", "pill")),
    (r"\bready to (?:end this|be done)$", ("ready to ",)),
    (r"^(?:i )?wish", None),  # an optional group: always tried
    (r"\b(?:a|bc) x", None),  # too short to say anything
    (r"^(?!.*again)(?=.*now).*$", None),
    (r"\b(?:ab|cd)? x", None),
    (r"\b(?:ab(?:c|d)|ef) x", ("ab", "ef")),
])
def test_a_pattern_is_skipped_only_by_the_words_it_must_start_with(pattern, literals):
    assert required_literals(pattern) == literals


def test_skipping_patterns_by_their_first_words_changes_no_verdict(shipped):
    texts = [line.split("\t")[2] for line in (SHIPPED.parent.parent / "tests" / "safety" /
                                              "mechanisms.tsv").read_text().splitlines()
             if line and not line.startswith("#")]
    fast = [shipped.screen(text) for text in texts]
    compiled = shipped._compiled
    saved = compiled.always
    compiled.always = list(range(len(compiled.patterns)))  # every pattern tried on every text
    try:
        assert [shipped.screen(text) for text in texts] == fast
    finally:
        compiled.always = saved


@pytest.mark.parametrize("text", CRISIS)
def test_crisis_language_is_caught(shipped, text):
    assert shipped.match(text) is not None


@pytest.mark.parametrize("text", NOT_CRISIS)
def test_pain_idioms_are_not_crisis(shipped, text):
    assert shipped.match(text) is None


def test_reply_gives_the_veterans_crisis_line(shipped):
    assert "dial 988 then press 1" in shipped.reply and "838255" in shipped.reply
    assert len(shipped.reply) <= 320


def test_exceptions_remove_only_their_words():
    matcher = SafetyMatcher(phrases=("die",), exceptions=("die for",))
    assert matcher.match("I could die for some sleep") is None
    assert matcher.match("I could die for some sleep. I want to die") == "die"


@pytest.mark.parametrize("text", ["I want to die for real", "i just want to die for good",
                                  "wanting to die for weeks now"])
def test_an_exception_does_not_hide_a_crisis_phrase_it_overlaps(shipped, text):
    # "to die for" (an idiom) shares "to die" with "want to die": only a phrase
    # lying wholly inside an exception is an idiom.
    assert shipped.match(text) is not None


def test_an_exception_does_not_hide_a_crisis_pattern_it_overlaps():
    matcher = SafetyMatcher(phrases=(), patterns=(r"\bwant to die\b",), exceptions=("to die for",))
    assert matcher.match("that pie was to die for") is None
    assert matcher.match("I want to die for real") is not None


def test_patterns_are_regular_expressions():
    matcher = SafetyMatcher(phrases=(), patterns=(r"\bgoodbye forever\b",))
    assert matcher.match("Goodbye... forever") is not None
    assert matcher.match("goodbye for now") is None


@pytest.fixture
def quiet_services(db_url, clock, sender):
    """Services whose clock is inside the participant's quiet hours (23:00 in New York)."""
    from bot.services import build_services

    clock.set(clock.now().replace(hour=4))
    built = build_services(make_config(db_url, safety__staff_phones=["+12025550199"]),
                           clock=clock, sender=sender)
    yield built
    built.db.dispose()


@pytest.fixture
def crisis_app(quiet_services):
    from bot import create_app

    app = create_app(services=quiet_services)
    app.config.update(TESTING=True)
    return app


def test_crisis_reply_alerts_pauses_and_ends_run(crisis_app, quiet_services, people):
    from tests.conftest import Sms

    services = quiet_services
    sms = Sms(crisis_app.test_client())
    with services.db.session() as session:
        session.add(Nudge(participant_id=people["participant"], coach_id=people["coach"],
                          body="hi", original_body="hi", reason="r", source="s",
                          event_key="k1", status="pending", due_at=services.clock.now(),
                          created_at=services.clock.now()))
    assert "pain" in replies(sms.send(PARTICIPANT_PHONE, "CHECKIN"))[0].lower()
    answer = replies(sms.send(PARTICIPANT_PHONE, "honestly I want to die"))
    assert len(answer) == 1 and "988" in answer[0] and "838255" in answer[0]
    with services.db.session() as session:
        escalation = session.scalars(select(Escalation)).one()
        assert escalation.kind == "crisis" and escalation.urgent
        assert "want to die" not in escalation.reason
        alerts = session.scalars(select(Outbox).where(Outbox.kind == "alert")).all()
        assert {a.to_phone for a in alerts} == {COACH_PHONE, "+12025550199"}
        assert all(not a.respect_quiet_hours and a.priority == 0 for a in alerts)
        assert session.get(Participant, people["participant"]).nudges_paused
        assert session.scalars(select(Nudge)).one().paused
        assert session.scalars(select(Run)).one().status == "ended"
        bodies = [m.body for m in session.scalars(select(Message)
                                                  .where(Message.phone == COACH_PHONE))]
        assert bodies and all("die" not in b for b in bodies)
    # the next ordinary text is not read as an answer to the ended check-in
    assert "988" not in " ".join(replies(sms.send(PARTICIPANT_PHONE, "7")))


def test_crisis_is_answered_even_when_opted_out(sms, services, people):
    sms.send(PARTICIPANT_PHONE, "STOP")
    answer = replies(sms.send(PARTICIPANT_PHONE, "I am going to kill myself"))
    assert "838255" in answer[0]


@pytest.mark.parametrize("content", ["", "# phrases were here\n", "---\n"])
def test_an_empty_safety_file_is_a_problem_not_silence(tmp_path, content):
    path = tmp_path / "safety.yaml"
    path.write_text(content)
    matcher, report = load_safety(path)
    assert matcher is None
    assert [str(p) for p in report.problems] == [
        f"{path}:1: the file is empty; safety.yaml needs reply and phrases"]


def test_a_crisis_text_from_an_unenrolled_number_gets_the_crisis_line_and_alerts_staff(
        crisis_app, quiet_services):
    from tests.conftest import Sms

    stranger = "+12025550177"
    sms = Sms(crisis_app.test_client())
    first = replies(sms.send(stranger, "my son is talking about suicide"))
    again = replies(sms.send(stranger, "he says he wants to end it all"))
    assert len(first) == 1 and "988" in first[0] and "838255" in first[0]
    assert len(again) == 1 and "988" in again[0]  # every time, not once a day
    with quiet_services.db.session() as session:
        alerts = session.scalars(select(Outbox).where(Outbox.kind == "alert")).all()
        # one alert for both texts (within 30 minutes), after any enrolled veteran's
        assert [a.to_phone for a in alerts] == ["+12025550199"]
        assert all(not a.respect_quiet_hours and a.priority == PRIORITY_CRISIS_OTHER
                   for a in alerts)
        bodies = [session.get(Message, a.message_id).body for a in alerts]
        assert all(stranger in b and "suicide" not in b for b in bodies)
        escalation = session.scalars(select(Escalation)).one()  # staff only: no participant
        assert (escalation.participant_id, escalation.coach_id) == (None, None)
        assert (escalation.phone, escalation.texts, escalation.urgent) == (stranger, 2, True)


def test_an_idiom_from_an_unenrolled_number_gets_the_usual_note(crisis_app, quiet_services):
    from tests.conftest import Sms

    answer = replies(Sms(crisis_app.test_client()).send("+12025550177",
                                                         "my back is killing me, who is this?"))
    assert len(answer) == 1 and answer[0].startswith("This is the PeerLine program line")
    with quiet_services.db.session() as session:
        assert session.scalars(select(Outbox).where(Outbox.kind == "alert")).all() == []


def test_no_question_of_the_ended_run_follows_a_crisis_reply(sms, services, people, clock,
                                                               sender):
    from datetime import timedelta

    from bot.runtime.apply import on_enrolled
    from scheduler.jobs import send_outbox

    night = clock.now().replace(hour=4)  # 23:00 in New York: quiet hours
    clock.set(night)
    with services.db.session() as session:
        on_enrolled(session, services, session.get(Participant, people["participant"]), night)
    answer = replies(sms.send(PARTICIPANT_PHONE, "I want to end my life"))
    assert "838255" in answer[0]
    send_outbox(services, clock.advance(timedelta(hours=10, minutes=5)))  # 09:05 New York
    # the welcome texts queued for the morning (ending in a YES/NO question) were for the
    # run the crisis ended: none of them follows the crisis reply
    assert sender.bodies_to(PARTICIPANT_PHONE) == []
    assert sender.bodies_to(COACH_PHONE)  # the coach's alert did go


def test_screen_gives_tiers_and_joins_the_previous_text(shipped):
    from bot.flows.safety import Tier

    assert shipped.screen("I want to").tier is Tier.NONE
    assert shipped.screen("die", previous="I want to").tier is Tier.CRISIS
    assert shipped.screen("ok thanks", previous="I want to die").tier is Tier.NONE
    assert shipped.screen("I cant go on like this").tier is Tier.CONCERN
    assert shipped.match("I cant go on like this") is None


def test_builtin_matcher_has_both_tiers_and_all_texts():
    from bot.flows.safety import Tier

    builtin = SafetyMatcher()
    assert builtin.screen("I want to die").tier is Tier.CRISIS
    assert builtin.screen("I can't go on").tier is Tier.CONCERN
    for text in (builtin.reply, builtin.concern_reply, builtin.concern_no_reply):
        assert "988" in text and "coach" not in text
    assert "Reply YES or NO" in builtin.concern_reply
