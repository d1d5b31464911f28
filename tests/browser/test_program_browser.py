"""Staff read the fidelity page and change a program in a real Chromium (SPEC 12)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.models import AuditLog, Message, Participant
from bot.services import Services
from tests.browser.conftest import DESKTOP, log_in

pytestmark = pytest.mark.browser


def test_staff_read_fidelity_and_extend_a_program_at_desktop_size(
        services: Services, world: dict[str, int], live: Any, page_for: Any) -> None:
    now = services.clock.now()
    with services.db.session() as db:
        sam = db.get(Participant, world["sam"])
        assert sam is not None
        sam.enrolled_at = now - timedelta(days=20)
        sam.program_end_at = sam.enrolled_at + timedelta(weeks=16)
        db.add(Message(direction="out", participant_id=sam.id, coach_id=sam.coach_id,
                       phone=sam.phone, body="Hi Sam, Alex here.", kind="compose",
                       status="sent", created_at=now - timedelta(days=3)))
    page = page_for(DESKTOP)
    log_in(page, live.url, "sage", "sage-password")
    page.goto(f"{live.url}/staff/fidelity")
    page.get_by_role("heading", name="Fidelity").wait_for()
    alex = page.locator("section", has=page.get_by_role("heading", name="Alex Rivera"))
    assert alex.locator("svg.fidelity-chart").is_visible()
    assert "pairs that met the contact target" in (
        alex.locator("svg.fidelity-chart").get_attribute("aria-label") or "")
    assert alex.get_by_role("row").count() >= 2  # the header and at least one month

    page.goto(f"{live.url}/veterans/{world['sam']}")
    page.get_by_text("Week 3 of 16").first.wait_for()
    page.get_by_label("Extend by").fill("2")
    page.get_by_role("button", name="Extend").click()
    page.get_by_text("program now ends").wait_for()
    page.get_by_text("Week 3 of 18").first.wait_for()
    with services.db.session() as db:
        assert db.scalar(select(AuditLog.action).where(
            AuditLog.action == "program.extend")) == "program.extend"
