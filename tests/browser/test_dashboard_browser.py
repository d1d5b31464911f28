"""A coach works the dashboard in a real Chromium: each action shows on the page and in the DB."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.models import AuditLog, Escalation, Message, Nudge, Outbox
from bot.services import Services
from tests.browser.conftest import DESKTOP, PHONE, log_in

pytestmark = pytest.mark.browser


def _outbox(services: Services, message_id: int | None) -> tuple[Message, Outbox] | None:
    with services.db.session() as db:
        row = db.execute(select(Message, Outbox).join(Outbox, Outbox.message_id == Message.id)
                         .where(Message.id == message_id)).first()
        return (row[0], row[1]) if row else None


def _nudge(services: Services, nudge_id: int) -> Nudge:
    with services.db.session() as db:
        nudge = db.get(Nudge, nudge_id)
        assert nudge is not None
        return nudge


def _actions(services: Services) -> list[str]:
    with services.db.session() as db:
        return list(db.scalars(select(AuditLog.action).where(AuditLog.actor_id.is_not(None))))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_coach_approves_edits_rejects_acknowledges_and_composes(
        services: Services, world: dict[str, int], live: Any, page_for: Any,
        viewport: dict[str, int]) -> None:
    page = page_for(viewport)
    log_in(page, live.url, "alex", "alex-password")
    assert "Robin" not in page.content()  # another coach's veteran never shows

    # Approve one draft as written.
    page.locator(f"[data-draft='{world['sam_draft1']}']").get_by_role("button",
                                                                       name="Approve").click()
    page.get_by_text("Approved: the message to Sam goes out").wait_for()
    assert page.locator(f"[data-draft='{world['sam_draft1']}']").count() == 0
    approved = _nudge(services, world["sam_draft1"])
    assert approved.status == "approved"
    sent = _outbox(services, approved.message_id)
    assert sent is not None and sent[1].kind == "nudge" and sent[1].state == "pending"
    assert sent[0].body == "Hi Sam, draft number 1."

    # Edit another and approve the new text.
    card = page.locator(f"[data-draft='{world['sam_draft2']}']")
    card.get_by_text("Edit", exact=True).click()
    card.get_by_label("New text for Sam").fill("Hi Sam, Alex here. How was the walk?")
    card.get_by_role("button", name="Save and approve").click()
    page.get_by_text("Edited and approved").wait_for()
    edited = _nudge(services, world["sam_draft2"])
    assert edited.status == "approved" and edited.body == "Hi Sam, Alex here. How was the walk?"
    queued = _outbox(services, edited.message_id)
    assert queued is not None and queued[0].body == "Hi Sam, Alex here. How was the walk?"

    # Reject the third: nothing is queued.
    page.locator(f"[data-draft='{world['sam_draft3']}']").get_by_role("button",
                                                                       name="Reject").click()
    page.get_by_text("Rejected: nothing will be sent").wait_for()
    rejected = _nudge(services, world["sam_draft3"])
    assert rejected.status == "rejected" and rejected.message_id is None
    page.get_by_text("No drafts are waiting for you.").wait_for()

    # Acknowledge the open escalation.
    alert = page.locator(f"[data-escalation='{world['sam_alert']}']")
    alert.get_by_role("button", name="Acknowledge").click()
    page.get_by_text("Acknowledged the alert about Sam.").wait_for()
    assert "Acknowledged" in page.locator(f"[data-escalation='{world['sam_alert']}']").inner_text()
    with services.db.session() as db:
        escalation = db.get(Escalation, world["sam_alert"])
        assert escalation is not None and escalation.acknowledged_by_id == world["alex"]

    # Compose a message on Sam's page: queued through the outbox, shown as pending.
    page.locator(f"[data-veteran='{world['sam']}'] a.name").click()
    page.get_by_role("heading", name="Sam Carter").wait_for()
    page.get_by_label("Write to Sam").fill("Thinking of you today <b>Sam</b>")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Queued: your message to Sam goes out").wait_for()
    bubble = page.locator(".msg.out.coach").last
    assert "Thinking of you today <b>Sam</b>" in bubble.inner_text()
    assert "Waiting to send" in bubble.inner_text()
    with services.db.session() as db:
        composed = db.scalars(select(Message).where(Message.kind == "compose")).one()
        outbox = db.scalars(select(Outbox).where(Outbox.message_id == composed.id)).one()
        assert composed.coach_id == world["alex"] and composed.participant_id == world["sam"]
        assert outbox.state == "pending" and outbox.respect_quiet_hours

    assert {"login", "nudge.approve", "nudge.edit", "nudge.reject", "escalation.ack",
            "message.compose"} <= set(_actions(services))
    # Nothing the coach did needed sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0


def test_logged_out_visitor_is_sent_to_login_and_back(
        services: Services, world: dict[str, int], live: Any, page_for: Any) -> None:
    page = page_for(PHONE)
    page.goto(f"{live.url}/veterans/{world['sam']}")
    page.get_by_role("heading", name="Log in").wait_for()
    page.get_by_label("Username").fill("alex")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("don't match").wait_for()
    page.get_by_label("Password").fill("alex-password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Sam Carter").wait_for()
    page.get_by_role("button", name="Log out").click()
    page.get_by_text("You are signed out.").wait_for()
    page.goto(f"{live.url}/")
    page.get_by_role("heading", name="Log in").wait_for()
