"""The program's arc (SPEC 12): weeks, the end and maintenance, through `tick` and the webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.domain.people import add_coach, add_participant
from bot.domain.program_arc import (
    ArcError,
    Status,
    describe_week,
    end_now,
    extend,
    program_length,
    set_status,
    total_weeks,
    week_of,
)
from bot.flows import actions as act
from bot.flows.attributes import ATTRIBUTES
from bot.flows.engine import Context, Message, ScheduleStart, advance
from bot.flows.hard_week import is_hard_week
from bot.flows.loader import parse_flow
from bot.flows.yamlio import Report
from bot.models import AuditLog, Participant
from bot.runtime.context import context_for, costly_reads
from scheduler.jobs import run_all
from tests.conftest import make_config, replies

SAM = "+12025550123"
COACH = "+12025550101"
ENROLLED = datetime(2026, 12, 5, 15, tzinfo=UTC)  # Saturday 10:00 in New York
END = ENROLLED + timedelta(weeks=16)


@pytest.fixture
def config(any_db_url):
    return make_config(any_db_url, twilio__max_messages_per_second=1000.0)


@pytest.fixture
def sam(services):
    with services.db.session() as session:
        coach = add_coach(session, name="Alex Rivera", phone=COACH, now=ENROLLED)
        person = add_participant(session, phone=SAM, name="Sam Carter", coach=coach,
                                 timezone="America/New_York", now=ENROLLED,
                                 length=program_length(services.config))
        return person.id


def _participant(services, participant_id):
    with services.db.session() as session:
        person = session.get(Participant, participant_id)
        session.expunge(person)
        return person


def _tick(services, clock, when):
    clock.set(when)
    return dict(run_all(services, when))


def test_enrolment_sets_the_end_from_the_length(services, sam):
    person = _participant(services, sam)
    assert person.program_end_at == END
    assert week_of(person, ENROLLED) == 1
    assert week_of(person, ENROLLED + timedelta(days=6, hours=23)) == 1
    assert week_of(person, ENROLLED + timedelta(days=7)) == 2
    assert week_of(person, ENROLLED - timedelta(days=3)) == 1  # never below 1
    assert total_weeks(person, services.config) == 16
    assert describe_week(person, services.config, ENROLLED + timedelta(weeks=3)) == \
        "week 4 of 16"


def test_changing_the_length_does_not_move_an_enrolled_end(services, sam):
    services.config = services.config.replace(program__length="12w")
    person = _participant(services, sam)
    assert person.program_end_at == END and total_weeks(person, services.config) == 16


def test_the_end_sends_the_closing_flow_once_and_completes(services, clock, sender, sam):
    _tick(services, clock, END - timedelta(minutes=1))
    assert not any("end of your" in body for body in sender.bodies_to(SAM))
    summary = _tick(services, clock, END + timedelta(minutes=1))
    assert "1 programs ended" in summary["program_arc"]
    closing = [b for b in sender.bodies_to(SAM) if "end of your 16 weeks" in b]
    assert len(closing) == 1
    assert _participant(services, sam).status == Status.COMPLETED
    again = _tick(services, clock, END + timedelta(minutes=2))
    assert "0 programs ended" in again["program_arc"]
    assert len([b for b in sender.bodies_to(SAM) if "end of your" in b]) == 1


def test_yes_to_monthly_check_ins_is_maintenance_and_weekly_ones_stop(
        services, clock, sender, sms, sam):
    _tick(services, clock, END + timedelta(minutes=1))
    assert "first Monday of each month" in replies(sms.send(SAM, "yes"))[0]
    assert _participant(services, sam).status == Status.MAINTENANCE
    sender.sent.clear()
    _tick(services, clock, datetime(2027, 3, 29, 14, 1, tzinfo=UTC))  # not the first Monday
    assert sender.bodies_to(SAM) == []
    first_monday = datetime(2027, 4, 5, 14, 1, tzinfo=UTC)  # 10:01 in New York
    _tick(services, clock, first_monday)
    assert any("pain on average" in body for body in sender.bodies_to(SAM))


def test_a_completed_veteran_gets_no_weekly_check_in(services, clock, sender, sms, sam):
    _tick(services, clock, END + timedelta(minutes=1))
    sms.send(SAM, "no")
    sender.sent.clear()
    _tick(services, clock, datetime(2027, 3, 29, 14, 1, tzinfo=UTC))  # Monday 10:01
    assert sender.bodies_to(SAM) == []


def test_the_end_waits_for_quiet_hours_and_a_check_in_in_progress(services, clock, sender, sms,
                                                                  sam):
    with services.db.session() as session:
        session.get(Participant, sam).program_end_at = datetime(2027, 3, 27, 2, tzinfo=UTC)
    _tick(services, clock, datetime(2027, 3, 27, 2, 30, tzinfo=UTC))  # 22:30 in New York
    assert _participant(services, sam).status == Status.ACTIVE
    clock.set(datetime(2027, 3, 27, 13, 30, tzinfo=UTC))
    sms.send(SAM, "CHECKIN")  # waiting for an answer: the end does not cut it off
    _tick(services, clock, datetime(2027, 3, 27, 13, 31, tzinfo=UTC))
    assert _participant(services, sam).status == Status.ACTIVE
    for answer in ("4", "4", "4"):
        sms.send(SAM, answer)
    _tick(services, clock, datetime(2027, 3, 27, 13, 32, tzinfo=UTC))
    assert _participant(services, sam).status == Status.COMPLETED


def test_staff_extend_reopens_and_the_new_end_closes_again(services, clock, sender, sms, sam):
    _tick(services, clock, END + timedelta(minutes=1))
    sms.send(SAM, "no")
    with services.db.session() as session:
        person = session.get(Participant, sam)
        new_end = extend(session, person, 4, services.config, END + timedelta(hours=1),
                         actor="web:coach:9")
        assert person.status == Status.ACTIVE
    assert new_end == END + timedelta(hours=1, weeks=4)
    _tick(services, clock, new_end + timedelta(minutes=1))
    assert len([b for b in sender.bodies_to(SAM) if "end of your 20 weeks" in b]) == 1


def test_staff_end_now_and_refusals(services, clock, sender, sam):
    moment = ENROLLED + timedelta(weeks=5)
    with services.db.session() as session:
        person = session.get(Participant, sam)
        end_now(session, person, moment, actor="web:coach:9")
        with pytest.raises(ArcError, match="1 to 52 weeks"):
            extend(session, person, 0, services.config, moment, actor="web:coach:9")
        actions = set(session.scalars(select(AuditLog.action)))
    assert "program.end" in actions
    _tick(services, clock, moment + timedelta(minutes=1))
    assert any("end of your 5 weeks" in b for b in sender.bodies_to(SAM))
    with services.db.session() as session:
        person = session.get(Participant, sam)
        with pytest.raises(ArcError, match="not running"):
            end_now(session, person, moment, actor="web:coach:9")


def test_the_arc_never_moves_anyone_out_of_opt_out_or_pause(services, sam):
    with services.db.session() as session:
        person = session.get(Participant, sam)
        for start in (Status.OPTED_OUT, Status.PAUSED):
            person.status = start
            assert not set_status(session, person, Status.MAINTENANCE, ENROLLED)
            assert not set_status(session, person, Status.COMPLETED, ENROLLED)
            assert person.status == start


def test_an_opted_out_veteran_gets_no_closing_flow(services, clock, sender, sms, sam):
    sms.send(SAM, "STOP")
    sender.sent.clear()
    _tick(services, clock, END + timedelta(minutes=1))
    assert sender.bodies_to(SAM) == []
    assert _participant(services, sam).status == Status.OPTED_OUT


def test_a_row_without_an_end_gets_one_from_the_length_in_force(services, clock, sam):
    with services.db.session() as session:
        session.get(Participant, sam).program_end_at = None
    _tick(services, clock, ENROLLED + timedelta(days=1))
    assert _participant(services, sam).program_end_at == END


# --- the flow format: triggers and set_status -------------------------------------------

def _problems(text: str) -> list[str]:
    report = Report("f.yaml")
    parse_flow(Path("f.yaml"), text.encode(), report)
    return [str(p) for p in report.problems]


def test_bad_arc_triggers_are_file_line_problems():
    problems = _problems("id: f\ntrigger:\n  program_week: [0, x]\n  enrolled: maybe\n"
                         "  statuses: [maintenance]\nstart: a\nsteps:\n  a:\n"
                         "    say: hi\n    set_status: active\n")
    assert any(p.startswith("f.yaml:3:") and "program_week" in p for p in problems)
    assert any(p.startswith("f.yaml:4:") and "enrolled must be true or false" in p
               for p in problems)
    assert any(p.startswith("f.yaml:5:") and "statuses goes with a schedule" in p
               for p in problems)
    assert any(p.startswith("f.yaml:10:") and "set_status must be one of" in p
               for p in problems)


def test_set_status_is_an_engine_action():
    report = Report("f.yaml")
    flow = parse_flow(Path("f.yaml"), b"id: f\nstart: a\nsteps:\n  a:\n    say: bye\n"
                      b"    set_status: maintenance\n", report)
    assert flow is not None and not report.problems
    context = Context(participant={"first_name": "Sam"}, coach={}, program={},
                      nudge_max_late=timedelta(hours=12))
    out = advance(flow, None, ScheduleStart(), ENROLLED, context)
    assert act.SetProgramStatus("maintenance", "a") in out.actions
    assert not advance(flow, None, Message("x"), ENROLLED, context).handled


# --- hard week ---------------------------------------------------------------------------

@pytest.mark.parametrize(("scores", "baseline", "hard"), [
    ({"pain": 7, "enjoyment": 5, "activity": 5}, {"pain": 5, "enjoyment": 5, "activity": 5},
     True),   # two points
    ({"pain": 6, "enjoyment": 5, "activity": 5}, {"pain": 5, "enjoyment": 5, "activity": 5},
     False),  # one point, 20%
    ({"pain": 4, "enjoyment": 3, "activity": 3}, {"pain": 3, "enjoyment": 3, "activity": 3},
     True),   # one point, 33%
    ({"pain": 9, "enjoyment": 9, "activity": 9}, {"pain": 8, "enjoyment": 8, "activity": 8},
     False),  # a steady high week
    ({"pain": 2, "enjoyment": 0, "activity": 0}, {"pain": 0, "enjoyment": 0, "activity": 0},
     True),   # a zero baseline uses points only
    ({"pain": 1, "enjoyment": 0, "activity": 0}, {"pain": 0, "enjoyment": 0, "activity": 0},
     False),
    ({"pain": 10, "enjoyment": 10, "activity": 10}, {}, False),  # no baseline yet
])
def test_hard_week_is_relative_to_the_baseline(scores, baseline, hard):
    assert is_hard_week(scores, baseline, 2, 30) is hard


def test_the_percent_rule_can_be_turned_off():
    assert not is_hard_week({"pain": 4}, {"pain": 3}, 2, 0)


def test_a_back_dated_enrolment_counts_weeks_from_that_date(services):
    with services.db.session() as session:
        coach = add_coach(session, name="Alex Rivera", phone=COACH, now=ENROLLED)
        person = add_participant(session, phone=SAM, name="Sam Carter", coach=coach,
                                 timezone="America/New_York", now=ENROLLED + timedelta(days=10),
                                 length=program_length(services.config),
                                 enrolled_at=ENROLLED + timedelta(days=1))
        assert person.program_end_at == END + timedelta(days=1)
        assert week_of(person, ENROLLED + timedelta(days=10)) == 2


def test_the_context_gives_what_flows_check_knows(services, sam):

    with services.db.session() as session:
        person = session.get(Participant, sam)
        context = context_for(services, person, session, services.flows.get("weekly_checkin"))
    assert set(context.participant) >= ATTRIBUTES["participant"]
    assert set(context.coach) == ATTRIBUTES["coach"]
    assert set(context.program) == ATTRIBUTES["program"]


def test_only_flows_that_name_the_costly_facts_pay_for_them(services):
    assert costly_reads(services.flows.get("weekly_checkin")) == {"goal", "missed_checkins"}
    assert costly_reads(services.flows.get("welcome")) == {"texts_per_week"}
    assert costly_reads(services.flows.get("goal")) == frozenset()
