"""Enrolment: E.164 phones, refusals, and two enrolments of one phone racing."""

from __future__ import annotations

import threading

import pytest

from bot.core.db import Database
from bot.domain.people import EnrolmentError, add_coach, add_participant
from tests.conftest import START


def test_two_enrolments_of_one_phone_racing_give_one_refusal(pg_url):
    """Both pass the 'is it taken?' check; the unique index decides, as a clean refusal."""
    db = Database(pg_url)
    with db.session() as session:
        coach = add_coach(session, name="Alex Rivera", phone="+12025550101", now=START)
    first_flushed = threading.Event()
    release_first = threading.Event()
    outcomes: list[str] = []

    def first() -> None:
        with db.session() as session:
            add_participant(session, phone="+12025550123", name="Sam", coach=coach,
                            timezone="America/New_York", now=START)
            first_flushed.set()
            release_first.wait(timeout=10)
        outcomes.append("first enrolled")

    def second() -> None:
        first_flushed.wait(timeout=10)
        try:
            with db.session() as session:
                threading.Timer(0.3, release_first.set).start()  # commit while we wait
                add_participant(session, phone="(202) 555-0123", name="Sam again",
                                coach=coach, timezone="America/New_York", now=START)
            outcomes.append("second enrolled")
        except EnrolmentError as exc:
            outcomes.append(f"second refused: {exc}")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    db.dispose()
    assert sorted(outcomes) == ["first enrolled",
                                "second refused: phone number +12025550123 is already enrolled"]


def test_a_taken_username_is_refused(db_url):
    db = Database(db_url)
    with db.session() as session:
        add_coach(session, name="Alex", phone="+12025550101", now=START, username="alex")
    with pytest.raises(EnrolmentError, match="username 'alex' is taken"), \
            db.session() as session:
        add_coach(session, name="Alex Two", phone="+12025550102", now=START, username="alex")
    db.dispose()


@pytest.mark.parametrize(
    ("who", "fields", "needle"),
    [
        ("participant", {"name": "Sam " + "x" * 130}, "name"),
        ("coach", {"name": "Alex " + "x" * 130}, "name"),
        ("coach", {"username": "a" * 81}, "username"),
    ],
)
def test_a_name_too_long_to_store_is_a_refusal(any_db_url, who, fields, needle):
    """PostgreSQL refuses a name over 120 (username over 80) characters with a DataError."""
    db = Database(any_db_url)
    with db.session() as session:
        coach = add_coach(session, name="Alex Rivera", phone="+12025550101", now=START)
    with pytest.raises(EnrolmentError, match=needle), db.session() as session:
        if who == "participant":
            add_participant(session, phone="+12025550123", coach=coach,
                            timezone="America/New_York", now=START, **fields)
        else:
            add_coach(session, phone="+12025550102", now=START,
                      **{"name": "Alex Two", **fields})
    db.dispose()
