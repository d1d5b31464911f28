"""A spoofed coach number: SMS EDIT waits for the dashboard, RESUME by SMS is refused."""

from __future__ import annotations

from typing import Any

from bot.domain.nudges import pause_for_participant
from bot.models import Nudge, Participant
from tests.conftest import COACH_PHONE, START, replies
from tests.dashboard_support import Visitor, world

__all__ = ["world"]


def test_an_sms_edit_is_confirmed_on_the_dashboard(client: Any, sms: Any, services: Any,
                                                   world: dict[str, int]) -> None:
    draft = world["sam_draft1"]
    assert "edit saved" in replies(sms.send(COACH_PHONE, f"EDIT {draft} Sam, proud of you"))[0]
    alex = Visitor(client)
    alex.login("alex", "alex-password")
    home = alex.text("/")
    assert "Edited by text, not sent yet" in home and "Sam, proud of you" in home
    done = alex.post(f"/drafts/{draft}/edit", {"body": "Sam, proud of you"})
    assert done.status_code == 302
    with services.db.session() as db:
        nudge = db.get(Nudge, draft)
        assert (nudge.status, nudge.body, nudge.sms_edit_body) == (
            "approved", "Sam, proud of you", None)


def test_resume_after_a_crisis_is_dashboard_only(client: Any, sms: Any, services: Any,
                                                 world: dict[str, int]) -> None:
    sam = world["sam"]
    with services.db.session() as db:
        pause_for_participant(db, sam, START)
    answer = replies(sms.send(COACH_PHONE, f"RESUME P{sam}"))
    assert "use the dashboard" in answer[0]
    with services.db.session() as db:
        assert db.get(Participant, sam).nudges_paused is True
    alex = Visitor(client)
    alex.login("alex", "alex-password")
    assert alex.post(f"/veterans/{sam}/resume-nudges").status_code == 302
    with services.db.session() as db:
        assert db.get(Participant, sam).nudges_paused is False
