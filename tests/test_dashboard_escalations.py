"""The escalation page (SPEC §10, §11): the words and a tap-to-call link for the veteran's own
coach and staff only, audited; only staff resolve a crisis; a coach acknowledges and notes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.models import AuditLog, Escalation
from tests.conftest import PARTICIPANT_PHONE, Sms
from tests.dashboard_support import Visitor

STRANGER = "+12025550177"


def _visitor(app: Any, username: str) -> Visitor:
    visitor = Visitor(app.test_client())
    assert visitor.login(username, f"{username}-password").status_code == 302
    return visitor


def _newest(services: Any) -> int:
    with services.db.session() as db:
        return int(db.scalars(select(Escalation.id).order_by(Escalation.id.desc())).first())


def _views(services: Any, escalation_id: int) -> list[int | None]:
    with services.db.session() as db:
        return [a.actor_id for a in db.scalars(select(AuditLog).where(
            AuditLog.action == "escalation.view", AuditLog.target_id == escalation_id))]


def test_the_coach_and_staff_see_the_words_and_can_call_others_cannot(
        app: Any, services: Any, world: dict[str, int]) -> None:
    Sms(app.test_client()).send(PARTICIPANT_PHONE, "I cannot take it, I want to die tonight")
    escalation_id = _newest(services)
    url = f"/escalations/{escalation_id}"
    for username in ("alex", "sage"):
        page = _visitor(app, username).text(url)
        assert "I cannot take it, I want to die tonight" in page
        assert f'href="tel:{PARTICIPANT_PHONE}"' in page
    assert _visitor(app, "blake").get(url).status_code == 404  # not Blake's veteran
    assert _views(services, escalation_id) == [world["alex"], world["staff"]]


def test_an_unknown_numbers_alert_shows_staff_the_number_and_the_count(
        app: Any, services: Any, world: dict[str, int]) -> None:
    sms = Sms(app.test_client())
    for text in ("I want to kill myself", "please", "I want to kill myself"):
        sms.send(STRANGER, text)
    escalation_id = _newest(services)
    url = f"/escalations/{escalation_id}"
    sage = _visitor(app, "sage")
    page = sage.text(url)
    assert f'href="tel:{STRANGER}"' in page and "2 texts" in page
    assert "I want to kill myself" in page
    assert f'data-escalation="{escalation_id}"' in sage.text("/")  # on staff's home page
    assert STRANGER in sage.text("/")
    alex = _visitor(app, "alex")
    assert alex.get(url).status_code == 404
    assert f'data-escalation="{escalation_id}"' not in alex.text("/")


def test_only_staff_resolve_a_crisis_a_coach_acknowledges_and_notes(
        app: Any, services: Any, world: dict[str, int]) -> None:
    url = f"/escalations/{world['robin_alert']}"  # Robin's crisis, coach Blake
    blake = _visitor(app, "blake")
    assert "Mark resolved" not in blake.text(url)
    assert "Program staff resolve crisis alerts" in blake.text(url)
    blake.post(url + "/ack")
    blake.post(url + "/note", {"body": "Called Robin, safe with family tonight."})
    refused = blake.post(url + "/resolve", follow_redirects=True).get_data(as_text=True)
    assert "Only program staff resolve a crisis alert" in refused
    with services.db.session() as db:
        escalation = db.get(Escalation, world["robin_alert"])
        assert escalation.acknowledged_by_id == world["blake"] and escalation.resolved_at is None
    sage = _visitor(app, "sage")
    page = sage.text(url)
    assert "Mark resolved" in page and "Called Robin, safe with family tonight." in page
    sage.post(url + "/resolve")
    with services.db.session() as db:
        assert db.get(Escalation, world["robin_alert"]).resolved_by_id == world["staff"]
        actions = [a.action for a in db.scalars(select(AuditLog).where(
            AuditLog.target_id == world["robin_alert"], AuditLog.actor_id.is_not(None)))]
    assert actions.count("escalation.resolve") == 1 and "escalation.note" in actions


@pytest.mark.parametrize("who", ["alex", "sage"])
def test_other_kinds_keep_todays_rule(app: Any, services: Any, world: dict[str, int],
                                      who: str) -> None:
    url = f"/escalations/{world['sam_alert']}"  # a flow's escalation about Sam
    _visitor(app, who).post(url + "/resolve")
    with services.db.session() as db:
        assert db.get(Escalation, world["sam_alert"]).resolved_at is not None
