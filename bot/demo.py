"""Seed the demo coach, veteran and a pending draft for `make run`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.models import Coach, Nudge
from bot.people import add_coach, add_participant
from bot.program_arc import program_length
from bot.services import Services

DEMO_USERNAME = "coach"
DEMO_PASSWORD = "peerline-demo"
DEMO_STAFF_USERNAME = "staff"
DEMO_COACH_PHONE = "+12025550101"
DEMO_PARTICIPANT_PHONE = "+12025550123"


def seed_demo(services: Services) -> bool:
    """Seed the demo data if the database has no coaches; return whether it did."""
    now = services.clock.now()
    with services.db.session() as session:
        if session.scalar(select(func.count(Coach.id))):
            return False
        zone = services.config.program.timezone
        coach = add_coach(session, name="Alex Rivera", phone=DEMO_COACH_PHONE, now=now,
                          username=DEMO_USERNAME, password=DEMO_PASSWORD, timezone=zone,
                          actor="demo")
        add_coach(session, name="Pat Staff", phone=None, now=now, role="staff",
                  username=DEMO_STAFF_USERNAME, password=DEMO_PASSWORD, timezone=zone,
                  actor="demo")
        participant = add_participant(session, phone=DEMO_PARTICIPANT_PHONE, name="Sam Carter",
                                      coach=coach, timezone=zone, now=now, actor="demo",
                                      length=program_length(services.config))
        participant.strategies = ["pacing", "relaxation"]
        session.add(Nudge(
            participant_id=participant.id, coach_id=coach.id,
            body="Hi Sam, Alex here. How did pacing go this week? Even one short break counts.",
            original_body="Hi Sam, Alex here. How did pacing go this week? "
                          "Even one short break counts.",
            reason="Demo: encouragement for a chosen strategy (pacing)", source="demo",
            event_key="demo:1", status="pending", due_at=now + timedelta(hours=1),
            created_at=now,
        ))
    return True


def demo_instructions(url: str) -> str:
    """Return what a newcomer needs to try the demo."""
    return "\n".join([
        f"  Dashboard:  {url}   coach login: {DEMO_USERNAME} / {DEMO_PASSWORD}"
        f"   staff login: {DEMO_STAFF_USERNAME} / {DEMO_PASSWORD}",
        "  Be the veteran in a terminal:  "
        f".venv/bin/peerline chat --phone {DEMO_PARTICIPANT_PHONE}",
        "  Texts go to the console transport: they are printed here and stored, never sent.",
    ])
