"""The veteran's page shows the program's arc; staff extend or end a program (SPEC 12)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.models import AuditLog, Participant
from tests.dashboard_support import Visitor, add_answers


def _visitor(client: Any, who: str) -> Visitor:
    visitor = Visitor(client)
    visitor.login(who, f"{who}-password")
    return visitor


def test_the_page_shows_the_week_baseline_change_and_goals(app: Any, services: Any,
                                                          world: dict[str, int]) -> None:
    now = services.clock.now()
    with services.db.session() as session:
        sam = session.get(Participant, world["sam"])
        sam.enrolled_at = now - timedelta(weeks=3, days=1)
        sam.program_end_at = sam.enrolled_at + timedelta(weeks=16)
        sam.peg_baseline = {"pain": 7, "enjoyment": 6, "activity": 6, "score": 6.3,
                            "at": (now - timedelta(weeks=3)).isoformat(), "week": 1}
    page = _visitor(app.test_client(), "alex").text(f"/veterans/{world['sam']}")
    assert "Week 4 of 16" in page
    assert "6.3" in page and "week 1" in page
    assert 'data-peg-change="-2"' in page and "better" in page  # latest 4.3 against 6.3
    assert 'class="baseline"' in page and "baseline 6.3" in page  # marked on the chart
    assert "Change the program (staff)" not in page  # a coach does not extend or end


def test_a_coach_cannot_extend_or_end(app: Any, world: dict[str, int]) -> None:
    alex = _visitor(app.test_client(), "alex")
    assert alex.post(f"/veterans/{world['sam']}/program/extend", {"weeks": "4"}).status_code \
        == 403
    assert alex.post(f"/veterans/{world['sam']}/program/end").status_code == 403


def test_staff_extend_and_end_are_audited(app: Any, services: Any, world: dict[str, int]) -> None:
    sage = _visitor(app.test_client(), "sage")
    page = sage.text(f"/veterans/{world['sam']}")
    assert "Change the program (staff)" in page and "does not move anyone's end" in page
    response = sage.post(f"/veterans/{world['sam']}/program/extend", {"weeks": "4"},
                         follow_redirects=True)
    assert "program now ends" in response.get_data(as_text=True)
    refused = sage.post(f"/veterans/{world['sam']}/program/extend", {"weeks": "0"},
                        follow_redirects=True)
    assert "Extend by 1 to 52 weeks" in refused.get_data(as_text=True)
    sage.post(f"/veterans/{world['sam']}/program/end")
    with services.db.session() as session:
        sam = session.get(Participant, world["sam"])
        assert sam.program_end_at == services.clock.now()
        actions = list(session.scalars(select(AuditLog.action).where(
            AuditLog.target_id == world["sam"], AuditLog.action.like("program.%"))))
    assert actions == ["program.extend", "program.end"]


def test_goal_history_shows_how_each_goal_went(app: Any, services: Any,
                                               world: dict[str, int]) -> None:
    from bot.models import CheckinAnswer

    now = services.clock.now()
    with services.db.session() as session:
        for variable, value, days in (("goal_what", "walk 10 minutes", 14),
                                      ("goal_result", "some", 7),
                                      ("goal_what", "stretch daily", 2)):
            session.add(CheckinAnswer(participant_id=world["sam"], flow_id="goal",
                                      variable=variable, value=value,
                                      answered_at=now - timedelta(days=days)))
        add_answers(session, session.get(Participant, world["sam"]), now, [(5, 5, 5)])
    page = _visitor(app.test_client(), "alex").text(f"/veterans/{world['sam']}")
    assert page.index("stretch daily") < page.index("walk 10 minutes")
    assert "Some of it" in page and "Not asked yet" in page
