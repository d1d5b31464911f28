"""Fixtures shared by the coach SMS tests (commands, and connection: inbox, relay, contacts)."""

from __future__ import annotations

import pytest

from bot.domain.people import add_coach, add_participant
from bot.services import Services
from tests.conftest import START

OTHER_COACH = "+12025550102"
OTHER_VETERAN = "+12025550124"


@pytest.fixture
def other(services: Services, people: dict[str, int]) -> dict[str, int]:
    """A second coach, Blake, with a veteran of their own, Kim (in Chicago)."""
    with services.db.session() as session:
        coach = add_coach(session, name="Blake Ode", phone=OTHER_COACH, now=START)
        vet = add_participant(session, phone=OTHER_VETERAN, name="Kim Lee", coach=coach,
                              timezone="America/Chicago", now=START)
        return {"coach": coach.id, "participant": vet.id}
