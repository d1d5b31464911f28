"""Seed the demo coach, veterans and a pending draft for `make run`; reset them.

Rules: the demo has two veterans so the README's crisis step (which pauses
a veteran's drafts) is tried on Jo, and Sam's draft can still be approved.
`reset_demo` empties the database only when it holds the demo coach (or
nothing), so it cannot wipe a real program's data.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, or_, select

from bot.domain.nudges import NudgeStatus
from bot.domain.people import add_coach, add_participant
from bot.domain.program_arc import program_length
from bot.models import Base, Coach, Nudge, Participant
from bot.services import Services

DEMO_USERNAME = "coach"
DEMO_PASSWORD = "peerline-demo"
DEMO_STAFF_USERNAME = "staff"
DEMO_COACH_PHONE = "+12025550101"
DEMO_PARTICIPANT_PHONE = "+12025550123"
DEMO_SECOND_PHONE = "+12025550124"


class NotADemo(Exception):
    """The database holds more than the demo; resetting it would lose real data."""


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
        second = add_participant(session, phone=DEMO_SECOND_PHONE, name="Jo Park", coach=coach,
                                 timezone=zone, now=now, actor="demo",
                                 length=program_length(services.config))
        second.strategies = ["sleep"]
        session.add(Nudge(
            participant_id=participant.id, coach_id=coach.id,
            body="Hi Sam, Alex here. How did pacing go this week? Even one short break counts.",
            original_body="Hi Sam, Alex here. How did pacing go this week? "
                          "Even one short break counts.",
            reason="Demo: encouragement for a chosen strategy (pacing)", source="demo",
            event_key="demo:1", status=NudgeStatus.PENDING, due_at=now + timedelta(hours=1),
            created_at=now,
        ))
    return True


def reset_demo(services: Services) -> None:
    """Delete every row and seed the demo again; raise NotADemo on a real program's data."""
    with services.db.session() as session:
        others = session.scalar(select(func.count(Coach.id)).where(or_(
            Coach.username.is_(None),
            Coach.username.not_in([DEMO_USERNAME, DEMO_STAFF_USERNAME])))) or 0
        others += session.scalar(select(func.count(Participant.id)).where(
            Participant.phone.not_in([DEMO_PARTICIPANT_PHONE, DEMO_SECOND_PHONE]))) or 0
        demo_coach = session.scalar(select(Coach).where(Coach.username == DEMO_USERNAME))
        if others or (demo_coach is not None and demo_coach.phone != DEMO_COACH_PHONE):
            raise NotADemo("this database has people other than the demo's; "
                           "demo reset only empties a demo database")
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
    seed_demo(services)


def demo_instructions(url: str) -> str:
    """Return what a newcomer needs to try the demo."""
    return "\n".join([
        f"  Dashboard:  {url}   coach login: {DEMO_USERNAME} / {DEMO_PASSWORD}"
        f"   staff login: {DEMO_STAFF_USERNAME} / {DEMO_PASSWORD}",
        "  Be the veteran in a terminal:  "
        f".venv/bin/peerline chat --phone {DEMO_PARTICIPANT_PHONE}   (on a copy; add --live "
        "to use this database)",
        "  Start the demo again:  make demo-reset",
        "  Texts go to the console transport: they are printed here and stored, never sent.",
    ])
