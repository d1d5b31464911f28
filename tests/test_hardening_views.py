"""Every view of a veteran's page or thread is audited; the audit page speaks in names."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.models import AuditLog
from tests.dashboard_support import Visitor, world

__all__ = ["world"]


def _views(services: Any) -> list[tuple[int | None, str, int | None]]:
    with services.db.session() as db:
        return [(a.actor_id, a.action, a.target_id) for a in db.scalars(
            select(AuditLog).where(AuditLog.action.like("%.view")).order_by(AuditLog.id))]


def test_each_view_of_a_veterans_page_or_alert_is_audited(client: Any, services: Any,
                                                          world: dict[str, int]) -> None:
    alex = Visitor(client)
    alex.login("alex", "alex-password")
    alex.text(f"/veterans/{world['sam']}")
    alex.text(f"/veterans/{world['sam']}")
    alex.text(f"/escalations/{world['sam_alert']}")
    assert alex.get(f"/veterans/{world['robin']}").status_code == 404  # not theirs: no view
    assert _views(services) == [(world["alex"], "participant.view", world["sam"]),
                                (world["alex"], "participant.view", world["sam"]),
                                (world["alex"], "escalation.view", world["sam_alert"])]


def test_the_audit_page_says_who_did_what_to_whom(app: Any, services: Any,
                                                  world: dict[str, int]) -> None:
    alex = Visitor(app.test_client())
    alex.login("alex", "alex-password")
    alex.text(f"/veterans/{world['sam']}")
    alex.post(f"/escalations/{world['sam_alert']}/ack")
    alex.post(f"/drafts/{world['sam_draft1']}/approve")
    staff = Visitor(app.test_client())
    staff.login("sage", "sage-password")
    staff.post("/staff/exports/messages")
    page = staff.text("/staff/audit")
    sam = world["sam"]
    for sentence in (f"Alex Rivera opened Sam Carter (P{sam})",
                     f"Alex Rivera acknowledged alert #{world['sam_alert']} about Sam Carter "
                     f"(P{sam})",
                     f"Alex Rivera approved draft #{world['sam_draft1']} to Sam Carter (P{sam})",
                     "Alex Rivera signed in", "Sage Staff downloaded the messages export"):
        assert sentence in page, sentence
    assert "web:coach:" not in page and "escalation.ack" not in page
