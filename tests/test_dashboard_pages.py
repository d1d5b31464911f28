"""Pages escape what veterans and staff type, show times in the right zones, and chart PEG."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from bot.cli.demo_data import DEMO_PASSWORD, DEMO_USERNAME, seed_demo
from bot.dashboard.charts import fmt, peg_chart_svg, peg_item, sparkline_svg, weekly_peg
from bot.models import Coach, EscalationNote, Message, Nudge, Outbox, Participant
from tests.dashboard_support import Visitor

SCRIPT = "<script>alert(1)</script>"


def test_every_page_escapes_what_people_typed(app: Any, services: Any,
                                              world: dict[str, int]) -> None:
    now = services.clock.now()
    with services.db.session() as db:
        sam = db.get(Participant, world["sam"])
        assert sam is not None
        sam.name = f"Sam {SCRIPT}"
        sam.strategies = [SCRIPT]
        db.add(Message(direction="in", participant_id=sam.id, phone=sam.phone, body=SCRIPT,
                       kind="participant", status="received", created_at=now))
        db.add(Message(direction="out", participant_id=sam.id, phone=sam.phone, body=SCRIPT,
                       kind="flow", status="delivered", flow_id=SCRIPT, step_id=SCRIPT,
                       created_at=now))
        nudge = db.get(Nudge, world["sam_draft1"])
        assert nudge is not None
        nudge.body, nudge.reason = SCRIPT, SCRIPT
        db.add(EscalationNote(escalation_id=world["sam_alert"], author_id=world["alex"],
                              body=SCRIPT, created_at=now))
        coach = db.get(Coach, world["alex"])
        assert coach is not None
        coach.name = f"Alex {SCRIPT}"
    pages = {"alex": ["/", f"/veterans/{world['sam']}", f"/escalations/{world['sam_alert']}"],
             "sage": ["/", "/staff/", "/staff/audit", f"/veterans/{world['sam']}"]}
    for username, urls in pages.items():
        visitor = Visitor(app.test_client())
        visitor.login(username, f"{username}-password")
        for url in urls:
            html = visitor.text(url)
            assert "<script>" not in html, (username, url)
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, (username, url)


def test_times_show_in_the_viewers_zone_and_the_veterans(app: Any, services: Any,
                                                         world: dict[str, int]) -> None:
    with services.db.session() as db:
        coach = db.get(Coach, world["alex"])
        sam = db.get(Participant, world["sam"])
        assert coach is not None and sam is not None
        coach.timezone = "America/Los_Angeles"
        sam.timezone = "America/Chicago"
        db.add(Message(direction="in", participant_id=sam.id, phone=sam.phone, body="hi",
                       kind="participant", status="received", created_at=services.clock.now()))
    alex = Visitor(app.test_client())
    alex.login("alex", "alex-password")
    page = alex.text(f"/veterans/{world['sam']}")
    assert "Mon 7 Dec, 7:00 AM PST" in page  # the message, in Alex's zone (15:00 UTC)
    assert "Mon 7 Dec, 9:00 AM CST" in page  # Sam's local time now
    # Draft 1 is due at 16:00 UTC: 10:00 for Sam, 8:00 for Alex.
    assert "Mon 7 Dec, 10:00 AM CST</time> <span class=\"muted\">(Sam's time)" in page
    assert "Mon 7 Dec, 8:00 AM PST your time" in page


def test_thread_shows_direction_delivery_and_flow_step(app: Any, services: Any,
                                                       world: dict[str, int]) -> None:
    from bot.outbox.queue import queue_message

    now = services.clock.now()
    with services.db.session() as db:
        sam = db.get(Participant, world["sam"])
        assert sam is not None
        db.add(Message(direction="out", participant_id=sam.id, phone=sam.phone,
                       body="How bad was your pain?", kind="flow", status="delivered",
                       flow_id="weekly_checkin", step_id="pain", created_at=now))
        held = queue_message(db, phone=sam.phone, body="Held nudge", kind="nudge", now=now,
                             participant=sam)
        db.scalars(select(Outbox).where(Outbox.message_id == held.id)).one().state = "held"
    alex = Visitor(app.test_client())
    alex.login("alex", "alex-password")
    page = alex.text(f"/veterans/{world['sam']}")
    assert re.search(r'icon-double-check"[^>]*>.*?</svg> Delivered', page)
    assert "weekly_checkin › pain" in page
    assert re.search(r'icon-pause"[^>]*>.*?</svg> Held: nudges are paused', page)
    assert '<li class="msg in"' in page and '<li class="msg out' in page


def test_weekly_peg_groups_by_the_veterans_week_and_keeps_the_latest() -> None:
    def answer(variable: str, value: str, when: datetime) -> Any:
        return SimpleNamespace(variable=variable, value=value, answered_at=when)

    monday_utc = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # still Sunday in Chicago
    weeks = weekly_peg([
        answer("pain", "6", monday_utc),
        answer("pain", "5", monday_utc + timedelta(hours=20)),  # Monday in Chicago
        answer("enjoyment", "4", monday_utc + timedelta(hours=21)),
        answer("activity", "3", monday_utc + timedelta(hours=22)),
        answer("activity", "2", monday_utc + timedelta(hours=23)),
        answer("goal_what", "walk", monday_utc),
        answer("pain", "eleven", monday_utc),
        answer("pain", "12", monday_utc + timedelta(hours=23)),
    ], "America/Chicago")
    assert [w.start.isoformat() for w in weeks] == ["2026-11-30", "2026-12-07"]
    assert weeks[0].values == {"pain": 6.0} and weeks[0].score is None
    assert weeks[0].headline == 6.0
    assert weeks[1].values == {"pain": 5.0, "enjoyment": 4.0, "activity": 2.0}
    assert weeks[1].score == 3.7 and fmt(weeks[1].score) == "3.7" and fmt(7.0) == "7"
    assert peg_item("PEG_Pain") == "pain" and peg_item("general_activity") == "activity"
    assert peg_item("mood") is None


def test_charts_describe_their_numbers_for_people_who_cannot_see_colour() -> None:
    when = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    answers = [SimpleNamespace(variable=v, value=str(n), answered_at=when)
               for v, n in (("pain", 7), ("enjoyment", 5), ("activity", 6))]
    weeks = weekly_peg(answers, "America/New_York")
    chart = str(peg_chart_svg(weeks, "Sam <b>"))
    assert "week of 30 Nov: pain 7, enjoyment of life 5, general activity 6" in chart
    assert "Sam &lt;b&gt;" in chart and "<circle" in chart and "<rect" in chart
    assert "<polygon" in chart and 'stroke-dasharray="6 4"' in chart
    assert 'aria-label="Sam&#39;s weekly scores: 6"' in str(sparkline_svg(weeks, "Sam"))
    assert str(peg_chart_svg([], "Sam")) == "" and str(sparkline_svg([], "Sam")) == ""


def test_a_newcomer_logs_in_with_the_demo_login_and_approves_the_demo_draft(
        app: Any, services: Any) -> None:
    assert seed_demo(services)
    coach = Visitor(app.test_client())
    assert coach.login(DEMO_USERNAME, DEMO_PASSWORD).status_code == 302
    home = coach.text("/")
    assert "How did pacing go this week?" in home and "Demo: encouragement" in home
    with services.db.session() as db:
        draft = db.scalars(select(Nudge)).one()
    done = coach.post(f"/drafts/{draft.id}/approve", follow_redirects=True)
    assert "Approved: the message to Sam goes out" in done.get_data(as_text=True)
    with services.db.session() as db:
        assert db.scalars(select(Nudge)).one().status == "approved"
    staff = Visitor(app.test_client())
    assert staff.login("staff", DEMO_PASSWORD).status_code == 302
    assert "Sam Carter" in staff.text("/staff/")


def test_a_text_cancelled_by_stop_shows_as_not_sent(app: Any, services: Any,
                                                    world: dict[str, int]) -> None:
    """Messages spell it 'canceled' (Twilio's word), outbox rows 'cancelled': one icon for both."""
    from bot.outbox.queue import queue_message
    from tests.conftest import PARTICIPANT_PHONE, Sms

    with services.db.session() as db:
        sam = db.get(Participant, world["sam"])
        assert sam is not None
        queue_message(db, phone=sam.phone, body="A text STOP cancels", kind="nudge",
                      now=services.clock.now(), participant=sam)
    Sms(app.test_client()).send(PARTICIPANT_PHONE, "STOP")
    with services.db.session() as db:
        text = db.scalars(select(Message).where(Message.body == "A text STOP cancels")).one()
        assert text.status == "canceled"
    alex = Visitor(app.test_client())
    alex.login("alex", "alex-password")
    page = alex.text(f"/veterans/{world['sam']}")
    assert "Not sent (cancelled)" in page and 'class="icon' in page
