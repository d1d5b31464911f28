"""Fixtures and helpers for the dashboard tests: a small world of coaches, veterans and drafts."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.people import add_coach, add_participant
from bot.models import CheckinAnswer, Escalation, Message, Nudge, Participant
from bot.services import Services

START_OFFSET = timedelta(hours=1)
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    """Return the first CSRF token in a page."""
    match = _TOKEN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Visitor:
    """A test client that logs in and posts forms with the CSRF token, like a browser."""

    def __init__(self, client: Any):
        self.client = client
        self.token = ""

    def login(self, username: str, password: str) -> Any:
        page = self.client.get("/login")
        self.token = csrf_from(page.get_data(as_text=True))
        response = self.client.post("/login", data={"username": username, "password": password,
                                                    "csrf_token": self.token})
        if response.status_code == 302:
            self.token = csrf_from(self.client.get("/").get_data(as_text=True))
        return response

    def get(self, url: str) -> Any:
        return self.client.get(url)

    def post(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})}, **kwargs)

    def text(self, url: str) -> str:
        response = self.client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return str(response.get_data(as_text=True))


def add_nudge(session: Any, participant: Participant, key: str, body: str, now: Any,
              reason: str = "Encouragement for pacing", hours: int = 1) -> Nudge:
    """Add a pending draft for `participant`."""
    nudge = Nudge(participant_id=participant.id, coach_id=participant.coach_id, body=body,
                  original_body=body, reason=reason, source="test", event_key=key,
                  status="pending", due_at=now + timedelta(hours=hours), created_at=now)
    session.add(nudge)
    session.flush()
    return nudge


def add_escalation(session: Any, participant: Participant, key: str, now: Any, *,
                   urgent: bool = False, reason: str = "No answer to the weekly check-in",
                   minutes_ago: int = 30) -> Escalation:
    """Add an open escalation without queuing its alert texts."""
    escalation = Escalation(participant_id=participant.id, coach_id=participant.coach_id,
                            kind="crisis" if urgent else "flow", urgent=urgent, reason=reason,
                            event_key=key, created_at=now - timedelta(minutes=minutes_ago))
    session.add(escalation)
    session.flush()
    return escalation


def add_answers(session: Any, participant: Participant, now: Any,
                weeks: list[tuple[int, int, int]]) -> None:
    """Add weekly PEG answers, the last tuple being this week's."""
    for back, (pain, enjoyment, activity) in enumerate(reversed(weeks)):
        when = now - timedelta(days=7 * back)
        for variable, value in (("pain", pain), ("enjoyment", enjoyment),
                                ("activity", activity)):
            session.add(CheckinAnswer(participant_id=participant.id, flow_id="weekly_checkin",
                                      variable=variable, value=str(value), answered_at=when))


@pytest.fixture
def world(services: Services, people: dict[str, int]) -> dict[str, int]:
    """Alex (coach of Sam), Blake (coach of Robin), staff Sage; drafts, alerts, messages."""
    now = services.clock.now()
    with services.db.session() as session:
        sam = session.get(Participant, people["participant"])
        assert sam is not None
        blake = add_coach(session, name="Blake Jones", phone="+12025550102", now=now,
                          username="blake", password="blake-password",
                          timezone="America/Los_Angeles")
        staff = add_coach(session, name="Sage Staff", phone=None, now=now, role="staff",
                          username="sage", password="sage-password")
        robin = add_participant(session, phone="+12025550124", name="Robin Lee", coach=blake,
                                timezone="America/Chicago", now=now)
        ids = {"alex": people["coach"], "sam": sam.id, "blake": blake.id, "staff": staff.id,
               "robin": robin.id}
        for n in (1, 2, 3):
            ids[f"sam_draft{n}"] = add_nudge(session, sam, f"t:sam:{n}",
                                             f"Hi Sam, draft number {n}.", now, hours=n).id
        ids["robin_draft"] = add_nudge(session, robin, "t:robin:1", "Hi Robin, secret draft.",
                                       now).id
        ids["sam_alert"] = add_escalation(session, sam, "t:sam:e1", now).id
        ids["robin_alert"] = add_escalation(session, robin, "t:robin:e1", now, urgent=True,
                                            reason="Robin crisis words").id
        session.add(Message(direction="in", participant_id=sam.id, phone=sam.phone,
                            body="my pain is about a 7 today", kind="participant",
                            status="received", created_at=now - timedelta(hours=2)))
        session.add(Message(direction="in", participant_id=robin.id, phone=robin.phone,
                            body="Robin private words", kind="participant", status="received",
                            created_at=now - timedelta(hours=2)))
        add_answers(session, sam, now, [(7, 6, 6), (6, 5, 6), (5, 4, 4)])
        sam.last_inbound_at = now - timedelta(hours=2)
    return ids


__all__ = ["Visitor", "add_answers", "add_escalation", "add_nudge", "csrf_from", "world"]
