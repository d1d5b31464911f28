"""Contact-due reminders past the first batch: veterans already reminded never block the rest."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.domain.people import add_coach, add_participant
from bot.models import Message, Participant
from bot.services import build_services
from scheduler import contact_due
from scheduler.jobs import run_job
from tests.conftest import START, make_config


@pytest.fixture
def services(any_db_url, clock, sender):
    built = build_services(make_config(any_db_url), clock=clock, sender=sender)
    yield built
    built.db.dispose()


def _enrol(services, count: int) -> list[int]:
    with services.db.session() as session:
        coach = add_coach(session, name="Alex Rivera", phone="+12025550101", now=START,
                          username="alex", password="alex-password")
        return [add_participant(session, phone=f"+1202555013{i}", name=f"Vet{i} Test",
                                coach=coach, timezone="America/New_York", now=START).id
                for i in range(count)]


def _reminded(services) -> list[int]:
    """Return the veteran id named by each contact-due text, in id order."""
    with services.db.session() as session:
        bodies = session.scalars(select(Message.body).where(Message.kind == "contact_due"))
        return sorted(int(re.search(r"\(P(\d+)\)", body)[1]) for body in bodies)  # type: ignore[index]


def test_every_due_veteran_is_reminded_once_whatever_the_batch(services, monkeypatch):
    ids = _enrol(services, 5)
    monkeypatch.setattr(contact_due, "BATCH", 2)
    later = START + timedelta(days=15)
    # at most BATCH reminders a pass; each pass goes on past those already reminded
    assert run_job(services, "contact_due", later) == (
        "2 contact-due reminders queued (2 veterans due)")
    assert _reminded(services) == ids[:2]
    assert run_job(services, "contact_due", later) == (
        "2 contact-due reminders queued (4 veterans due)")
    assert run_job(services, "contact_due", later) == (
        "1 contact-due reminders queued (5 veterans due)")
    assert _reminded(services) == ids
    # the next pass finds all five reminded for this period and queues nothing
    assert run_job(services, "contact_due", later) == (
        "0 contact-due reminders queued (5 veterans due)")
    assert _reminded(services) == ids


def test_a_veteran_after_a_full_batch_of_reminded_ones_is_still_reminded(services, monkeypatch):
    ids = _enrol(services, 3)
    later = START + timedelta(days=15)
    monkeypatch.setattr(contact_due, "BATCH", 2)
    with services.db.session() as session:  # the third enrolled a day later: due a day later
        session.execute(update(Participant).where(Participant.id == ids[2])
                        .values(enrolled_at=START + timedelta(days=1)))
    assert run_job(services, "contact_due", later - timedelta(days=1)).startswith("2 contact-due")
    assert run_job(services, "contact_due", later).startswith("1 contact-due")
    assert _reminded(services) == ids
