"""SPEC §6.2: whole-message STOP/START/HELP words, forgiving case, spaces and punctuation."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.flows.keywords import HELP_WORDS, START_WORDS, STOP_WORDS, consent_keyword
from bot.models import ConsentEvent, Outbox, Participant
from bot.outbox.queue import queue_message
from tests.conftest import COACH_PHONE, PARTICIPANT_PHONE, replies

SPEC_STOP = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
SPEC_START = ["START", "UNSTOP", "YES"]
SPEC_HELP = ["HELP", "INFO"]


def variants(word: str) -> list[str]:
    """The ways people type a keyword: case, surrounding spaces, punctuation."""
    return [word, word.lower(), word.capitalize(), f"  {word.lower()}  ", f"{word}.",
            f"{word.lower()}!", f"{word}!!!", f"'{word.lower()}'", f"\t{word}\n", f"{word} ?",
            f"¡{word}!", f"*{word.lower()}*", "".join(chr(ord(c) + 0xFEE0) for c in word)]


def test_the_word_lists_are_the_specs():
    assert set(SPEC_STOP) == STOP_WORDS
    assert set(SPEC_START) == START_WORDS
    assert set(SPEC_HELP) == HELP_WORDS


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, "stop") for word in SPEC_STOP for text in variants(word)]
    + [(text, "start") for word in SPEC_START for text in variants(word)]
    + [(text, "help") for word in SPEC_HELP for text in variants(word)],
)
def test_every_keyword_in_every_spelling(text, expected):
    assert consent_keyword(text) == expected


NEAR_MISSES = [
    "please don't stop", "stop it hurts", "Don't stop", "I want to stop the pain", "stopped",
    "stopping", "nonstop", "stop stop", "S T O P", "st op", "end of the day was rough",
    "the pain won't end", "quitting smoking", "cancel my appointment", "yes please",
    "yes, a 7", "yess", "start over", "restart", "help me", "I need help", "helpful",
    "information", "info about my meds", "", "   ", "...", "🛑", "7", "no",
]


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_not_keywords(text):
    assert consent_keyword(text) is None


def status(services: Any, people: dict[str, int]) -> str:
    with services.db.session() as session:
        return session.get(Participant, people["participant"]).status


def events(services: Any) -> list[tuple[str, str]]:
    with services.db.session() as session:
        return [(e.kind, e.method) for e in session.scalars(
            select(ConsentEvent).where(ConsentEvent.kind != "enrolled").order_by(ConsentEvent.id))]


@pytest.mark.parametrize("word", ["stop", "Unsubscribe.", " CANCEL ", "end!", "quit", "Revoke",
                                  "optout", "STOPALL"])
def test_stop_words_opt_out_with_one_confirmation(sms, services, people, word):
    first = replies(sms.send(PARTICIPANT_PHONE, word))
    assert len(first) == 1 and "unsubscribed" in first[0]
    assert status(services, people) == "opted_out"
    assert replies(sms.send(PARTICIPANT_PHONE, word)) == []  # no second confirmation
    assert replies(sms.send(PARTICIPANT_PHONE, "how are you")) == []
    assert replies(sms.send(PARTICIPANT_PHONE, "yes please")) == []
    assert [kind for kind, _ in events(services)] == ["opt_out"]


@pytest.mark.parametrize("text", ["please don't stop", "stop it hurts", "I want to quit"])
def test_near_misses_reach_the_program_not_the_opt_out(sms, services, people, text):
    answer = replies(sms.send(PARTICIPANT_PHONE, text))
    assert status(services, people) == "active"
    assert not any("unsubscribed" in line for line in answer)
    assert events(services) == []


@pytest.mark.parametrize("word", ["start", "UNSTOP", "Yes!"])
def test_start_words_opt_back_in_only_when_opted_out(sms, services, people, word):
    sms.send(PARTICIPANT_PHONE, "STOP")
    answer = replies(sms.send(PARTICIPANT_PHONE, word))
    assert len(answer) == 1 and "Welcome back" in answer[0]
    assert status(services, people) == "active"
    assert [kind for kind, _ in events(services)] == ["opt_out", "opt_in"]


@pytest.mark.parametrize("word", ["yes", "START", "unstop"])
def test_start_words_are_ordinary_replies_when_not_opted_out(sms, services, people, word):
    answer = replies(sms.send(PARTICIPANT_PHONE, word))
    assert not any("Welcome back" in line for line in answer)
    assert status(services, people) == "active"
    assert events(services) == []


@pytest.mark.parametrize("opted_out", [False, True])
@pytest.mark.parametrize("word", ["help", "INFO?"])
def test_help_names_the_program_the_coach_and_how_to_stop(sms, services, people, word,
                                                          opted_out):
    if opted_out:
        sms.send(PARTICIPANT_PHONE, "STOP")
    [answer] = replies(sms.send(PARTICIPANT_PHONE, word))
    assert "PeerLine" in answer
    assert "Alex" in answer
    assert "STOP" in answer
    assert status(services, people) == ("opted_out" if opted_out else "active")


def test_stop_cancels_texts_waiting_in_the_outbox(sms, services, people):
    with services.db.session() as session:
        participant = session.get(Participant, people["participant"])
        message = queue_message(session, phone=PARTICIPANT_PHONE, body="Nudge for later",
                                kind="nudge", now=services.clock.now(), participant=participant)
        coach_alert = queue_message(session, phone=COACH_PHONE, body="P1 needs a call",
                                    kind="coach_alert", now=services.clock.now(),
                                    participant=participant, to_participant=False)
        ids = (message.id, coach_alert.id)
    sms.send(PARTICIPANT_PHONE, "STOP")
    with services.db.session() as session:
        states = {row.message_id: row.state for row in session.scalars(select(Outbox))}
    assert states[ids[0]] == "cancelled"
    assert states[ids[1]] == "pending"  # the coach still hears about their participant


def test_consent_events_record_how_and_which_message(sms, services, people):
    sms.send(PARTICIPANT_PHONE, " Stop. ")
    sms.send(PARTICIPANT_PHONE, "start")
    with services.db.session() as session:
        rows = session.scalars(select(ConsentEvent).where(ConsentEvent.kind != "enrolled")
                               .order_by(ConsentEvent.id)).all()
        assert [(r.kind, r.method) for r in rows] == [("opt_out", "sms:Stop."),
                                                      ("opt_in", "sms:START")]
        assert all(r.message_id is not None for r in rows)
        assert all(r.created_at == services.clock.now() for r in rows)


def test_unknown_number_texting_stop_gets_no_program_note(sms, services):
    assert replies(sms.send("+12025550177", "STOP")) == []
    assert len(replies(sms.send("+12025550177", "hello"))) == 1


def test_two_stops_at_once_opt_out_once(pg_url, clock, sender):
    """PostgreSQL: a transaction that read the participant before another's STOP committed."""
    from sqlalchemy import func, select

    from bot.inbound.consent import opt_out
    from bot.models import ConsentEvent, Participant
    from tests.conftest import enrolled_app, make_config

    services, _app = enrolled_app(make_config(pg_url), clock, sender)
    try:
        with services.db.session() as first:
            pid = first.scalar(select(Participant.id))
            assert first.get(Participant, pid).status == "active"  # read, unlocked
            with services.db.session() as second:
                assert opt_out(second, pid, method="sms:STOP", now=clock.now())
            assert not opt_out(first, pid, method="sms:STOP", now=clock.now())
        with services.db.session() as session:
            assert session.scalar(select(func.count()).select_from(ConsentEvent)
                                  .where(ConsentEvent.kind == "opt_out")) == 1
    finally:
        services.db.dispose()
