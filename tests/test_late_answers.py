"""A late answer to an ended check-in says how to start it again; exports name the question."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from bot.domain.export import ExportOptions, write_csv
from bot.runtime.apply import fire_due
from tests.conftest import PARTICIPANT_PHONE, replies


def _say(sms, text):
    return replies(sms.send(PARTICIPANT_PHONE, text))


def test_an_answer_after_the_checkin_timed_out_says_how_to_restart_it(sms, services, people,
                                                                       clock):
    assert "check-in time" in _say(sms, "CHECKIN")[0]
    clock.advance(timedelta(hours=25))
    with services.db.session() as session:
        assert fire_due(session, services, clock.now()) == 1  # the 24h timeout ends the run
    late = _say(sms, "6")
    assert late == ["Sorry, that weekly pain check-in has closed, so your answer was not "
                    "saved. To start it again, text CHECKIN."]
    assert len(late[0]) <= 160
    # not an answer to the closed question: the veteran's words go to the coach, as usual
    assert "passed your words to Alex" in _say(sms, "hello there")[0]


def test_no_late_answer_hint_after_a_finished_checkin_or_long_after(sms, services, people,
                                                                    clock):
    _say(sms, "CHECKIN")
    for answer in ("3", "3", "3"):
        _say(sms, answer)
    assert "passed your words" in _say(sms, "5")[0]  # answered: a number now is not late
    _say(sms, "CHECKIN")
    clock.advance(timedelta(days=6))  # timed out, and the flow's 2d window has passed too
    with services.db.session() as session:
        fire_due(session, services, clock.now())
    assert "passed your words" in _say(sms, "5")[0]


def test_messages_export_names_the_flow_and_step_an_answer_replied_to(sms, services, people):
    _say(sms, "hi")  # the fallback: no question answered
    _say(sms, "CHECKIN")
    _say(sms, "7")
    _say(sms, "maybe")  # a reply to the next question, re-asked: still that question's
    out = io.StringIO()
    with services.db.session() as session:
        write_csv(session, "messages", out, ExportOptions(include_free_text=True))
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    inbound = [(r["body"], r["flow"], r["step"]) for r in rows if r["direction"] == "in"]
    assert inbound == [("hi", "", ""), ("CHECKIN", "", ""), ("7", "weekly_checkin", "pain"),
                       ("maybe", "weekly_checkin", "enjoyment")]
