"""On a phone: staff find a veteran, turn a list's pages and reassign one veteran, by touch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.domain.people import add_participant
from bot.models import Coach, Participant
from bot.services import Services
from tests.browser.conftest import PHONE, log_in

pytestmark = pytest.mark.browser


def _crowd(services: Services, coach_id: int, count: int) -> None:
    now = services.clock.now()
    with services.db.session() as db:
        coach = db.get(Coach, coach_id)
        assert coach is not None
        for i in range(count):
            add_participant(db, phone=f"+1303555{i:04d}", name=f"Vet{i:03d} Crowd", coach=coach,
                            timezone="America/Chicago", now=now - timedelta(days=i))


def _tap_size(page: Any, selector: str) -> tuple[float, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box["width"], box["height"]


def test_staff_search_page_and_reassign_on_a_phone(services: Services, world: dict[str, int],
                                                   live: Any, page_for: Any) -> None:
    _crowd(services, world["alex"], 60)
    page = page_for(PHONE)
    log_in(page, live.url, "sage", "sage-password")
    page.goto(live.url + "/staff/")
    assert page.locator("[data-veteran]").count() == 50
    nav = page.get_by_role("navigation", name="Pages of veterans")
    assert "1–50 of 62" in nav.inner_text()
    assert min(_tap_size(page, 'nav[data-pager="page"] a[rel="next"]')) >= 44
    nav.get_by_role("link", name="Next →").click()
    page.wait_for_url("**/staff/?page=2*")
    assert page.locator("[data-veteran]").count() == 12
    pager = page.get_by_role("navigation", name="Pages of veterans").bounding_box()
    assert pager is not None and pager["x"] >= 0 and pager["x"] + pager["width"] <= PHONE["width"]

    page.get_by_label("Find a veteran").fill("robin")
    page.get_by_role("button", name="Search").click()
    assert page.locator("[data-veteran]").count() == 1
    assert min(_tap_size(page, "#q")) >= 44
    page.get_by_role("link", name="Reassign Robin Lee").click()
    page.get_by_label("New coach for Robin").select_option(label="Alex Rivera (61 veterans)")
    page.get_by_role("button", name="Reassign Robin").click()
    page.wait_for_url("**/staff/?q=robin")
    assert "Robin is now with Alex Rivera." in page.inner_text(".flashes")
    with services.db.session() as db:
        robin = db.get(Participant, world["robin"])
        assert robin is not None and robin.coach_id == world["alex"]
