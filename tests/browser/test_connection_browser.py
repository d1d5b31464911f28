"""A coach works the connection in a real Chromium, phone and desktop: inbox, relay, log, due."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot import create_app
from bot.models import Contact, InboxItem, Message
from bot.services import Services
from tests.browser.conftest import DESKTOP, PHONE, log_in
from tests.conftest import COACH_PHONE, PARTICIPANT_PHONE, Sms

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_coach_reads_the_inbox_answers_logs_and_clears_contact_due(
        services: Services, world: dict[str, int], live: Any, page_for: Any,
        viewport: dict[str, int]) -> None:
    services.clock.advance(timedelta(days=15))  # Sam: no call, visit or text for 15 days
    Sms(create_app(services=services).test_client()).send(
        PARTICIPANT_PHONE, "could you call me tonight about my knee")
    page = page_for(viewport)
    log_in(page, live.url, "alex", "alex-password")

    # Home: the unread count, and Sam is contact due.
    sam_card = page.locator(f"[data-veteran='{world['sam']}']")
    assert "Contact due" in sam_card.inner_text() and "1 new" in sam_card.inner_text()
    assert page.locator("[data-home-unread='1']").count() == 1

    # The inbox: the words, unread; answering opens Sam's page and marks them read.
    page.get_by_role("link", name="Inbox").first.click()
    item = page.locator("[data-inbox]").first
    assert "could you call me tonight" in item.inner_text()
    assert item.get_attribute("data-read") == "no"
    item.get_by_role("link", name="Answer Sam").click()
    page.get_by_role("heading", name="Sam Carter").wait_for()
    assert "New for you" in page.locator(".msg.unread").inner_text()
    assert page.locator("a[href^='tel:']").first.get_attribute("href") == \
        f"tel:{PARTICIPANT_PHONE}"
    with services.db.session() as db:
        assert db.scalars(select(InboxItem)).one().read_at is not None
    # What a coach needs before a call is near the top, on a phone too (was ~13,000 px down).
    top = "e => e.getBoundingClientRect().top + window.scrollY"  # from the page's top
    chart_top = page.locator("svg.peg-chart").evaluate(top)
    thread_top = page.locator("#thread-h").evaluate(top)
    print(f"chart at {chart_top:.0f}px, conversation at {thread_top:.0f}px ({viewport})")
    assert chart_top < thread_top and chart_top < (2200 if viewport == PHONE else 1200)

    # Relay: signed with the coach's first name, from the program number.
    page.get_by_label("Write to Sam").fill("I\u2019ll call at 7 tonight \u2026 ok?")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("your message to Sam goes out").wait_for()
    with services.db.session() as db:
        relayed = db.scalars(select(Message).where(Message.kind == "compose")).one()
    assert relayed.body == "I'll call at 7 tonight ... ok? -Alex"
    assert COACH_PHONE not in relayed.body

    # Contact log: a call with minutes, topics and a note.
    form = page.locator("form.contact-form")
    form.get_by_label("Call").check()
    form.get_by_label("Minutes").fill("20")
    form.get_by_label("Pacing").check()
    form.get_by_label("Note").fill("knee flare; pacing plan")
    form.get_by_role("button", name="Log contact").click()
    page.get_by_text("Logged: call with Sam.").wait_for()
    assert "knee flare; pacing plan" in page.locator(".contacts").inner_text()
    with services.db.session() as db:
        kinds = sorted(c.kind for c in db.scalars(select(Contact)))
    assert kinds == ["call", "text"]  # the relayed text counts as a text contact
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0

    # Home again: no longer due, nothing unread.
    page.get_by_role("link", name="Home").first.click()
    assert "Contact due" not in page.locator(f"[data-veteran='{world['sam']}']").inner_text()
    assert page.locator("[data-home-unread='0']").count() == 1
