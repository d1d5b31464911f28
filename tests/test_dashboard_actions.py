"""Coach actions on the dashboard land in the database, the outbox and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.models import AuditLog, Escalation, EscalationNote, Message, Nudge, Outbox, Participant
from tests.dashboard_support import Visitor, add_escalation


@pytest.fixture
def alex(app: Any, world: dict[str, int]) -> Visitor:
    visitor = Visitor(app.test_client())
    assert visitor.login("alex", "alex-password").status_code == 302
    return visitor


def _actions(services: Any) -> list[tuple[str, int | None]]:
    with services.db.session() as db:
        return [(a.action, a.target_id) for a in db.scalars(
            select(AuditLog).where(AuditLog.actor_id.is_not(None)).order_by(AuditLog.id))]


def _nudge(services: Any, nudge_id: int) -> Nudge:
    with services.db.session() as db:
        nudge = db.get(Nudge, nudge_id)
        assert nudge is not None
        return nudge


def test_home_lists_urgent_alerts_first_then_drafts_then_veterans(
        alex: Visitor, services: Any, world: dict[str, int]) -> None:
    with services.db.session() as db:
        sam = db.get(Participant, world["sam"])
        urgent = add_escalation(db, sam, "t:sam:urgent", services.clock.now(), urgent=True,
                                reason="Crisis words", minutes_ago=1)
        urgent_id = urgent.id
    html = alex.text("/")
    first_alert = html.index('data-escalation="')
    assert html[first_alert:].startswith(f'data-escalation="{urgent_id}"')
    assert html.index("URGENT") < html.index(f'data-escalation="{world["sam_alert"]}"')
    assert html.index("Needs attention") < html.index("Drafts to approve") < html.index(
        "My veterans")
    # Each draft: first name, why, and when it goes out in the veteran's time.
    assert "Encouragement for pacing" in html
    assert "Mon 7 Dec, 11:00 AM EST" in html and "(Sam's time)" in html
    # My veterans: last contact, last check-in, a PEG chart with its numbers, status.
    assert "Last check-in" in html and "Active" in html
    assert 'role="img" aria-label="Sam&#39;s weekly scores: 6.3, 5.7, 4.3"' in html
    assert "PEG <span class=\"score\">4.3</span>/10" in html


def test_approve_queues_one_outbox_row_at_the_drafts_time(alex: Visitor, services: Any,
                                                          world: dict[str, int]) -> None:
    response = alex.post(f"/drafts/{world['sam_draft2']}/approve")
    assert response.status_code == 302
    nudge = _nudge(services, world["sam_draft2"])
    with services.db.session() as db:
        outbox = db.scalars(select(Outbox).where(Outbox.message_id == nudge.message_id)).one()
        assert outbox.kind == "nudge" and outbox.due_at == nudge.due_at
    assert nudge.decided_by_id == world["alex"]
    assert ("nudge.approve", world["sam_draft2"]) in _actions(services)
    again = alex.post(f"/drafts/{world['sam_draft2']}/approve", follow_redirects=True)
    assert "was already approved" in again.get_data(as_text=True)


def test_edit_rejects_empty_text_and_approves_new_text(alex: Visitor, services: Any,
                                                       world: dict[str, int]) -> None:
    empty = alex.post(f"/drafts/{world['sam_draft1']}/edit", {"body": "   "},
                      follow_redirects=True)
    assert "The new text is empty." in empty.get_data(as_text=True)
    assert _nudge(services, world["sam_draft1"]).status == "pending"
    alex.post(f"/drafts/{world['sam_draft1']}/edit", {"body": "  New words  "})
    nudge = _nudge(services, world["sam_draft1"])
    assert nudge.status == "approved" and nudge.body == "New words"
    assert nudge.original_body == "Hi Sam, draft number 1."
    assert ("nudge.edit", world["sam_draft1"]) in _actions(services)


def test_reject_sends_nothing(alex: Visitor, services: Any, sender: Any,
                              world: dict[str, int]) -> None:
    alex.post(f"/drafts/{world['sam_draft3']}/reject")
    nudge = _nudge(services, world["sam_draft3"])
    assert nudge.status == "rejected" and nudge.message_id is None
    assert ("nudge.reject", world["sam_draft3"]) in _actions(services)
    assert sender.sent == []


def test_approve_all_takes_only_listed_own_unpaused_drafts(alex: Visitor, services: Any,
                                                           world: dict[str, int]) -> None:
    with services.db.session() as db:
        paused = db.get(Nudge, world["sam_draft3"])
        assert paused is not None
        paused.paused = True
    ids = [str(world[k]) for k in ("sam_draft1", "sam_draft3", "robin_draft")]
    response = alex.post("/drafts/approve-all", {"ids": ids}, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "Approved 1 draft." in text and "paused after a crisis" in text
    assert _nudge(services, world["sam_draft1"]).status == "approved"
    assert _nudge(services, world["sam_draft2"]).status == "pending"  # not on the list
    assert _nudge(services, world["sam_draft3"]).status == "pending"
    assert _nudge(services, world["robin_draft"]).status == "pending"


def test_a_draft_past_its_lateness_is_expired_not_announced(alex: Visitor, services: Any,
                                                            world: dict[str, int]) -> None:
    services.clock.advance(timedelta(hours=15))  # drafts 1 and 2 were due 1 and 2 h in; 12 h late
    page = alex.post(f"/drafts/{world['sam_draft1']}/approve", follow_redirects=True)
    assert "Too late to send" in page.get_data(as_text=True)
    page = alex.post("/drafts/approve-all", {"ids": [str(world["sam_draft2"])]},
                     follow_redirects=True)
    assert f"#{world['sam_draft2']} expired (too late to send)." in page.get_data(as_text=True)
    for key in ("sam_draft1", "sam_draft2"):
        nudge = _nudge(services, world[key])
        assert (nudge.status, nudge.message_id) == ("expired", None)


def test_opted_out_veteran_cannot_get_drafts_or_composed_texts(
        alex: Visitor, services: Any, world: dict[str, int]) -> None:
    with services.db.session() as db:
        sam = db.get(Participant, world["sam"])
        assert sam is not None
        sam.status = "opted_out"
    approve = alex.post(f"/drafts/{world['sam_draft1']}/approve", follow_redirects=True)
    assert "Sam has opted out" in approve.get_data(as_text=True)
    page = alex.text(f"/veterans/{world['sam']}")
    assert "has opted out of texts" in page and 'name="body" maxlength="1000"' not in page
    refused = alex.post(f"/veterans/{world['sam']}/compose", {"body": "hello"},
                        follow_redirects=True)
    assert "can&#39;t send this" in refused.get_data(as_text=True)
    with services.db.session() as db:
        assert db.scalars(select(Message).where(Message.kind == "compose")).first() is None


def test_compose_goes_through_the_outbox_and_waits_for_quiet_hours(
        alex: Visitor, services: Any, clock: Any, world: dict[str, int]) -> None:
    clock.set(datetime(2026, 12, 8, 3, 0, tzinfo=UTC))  # 22:00 in New York: quiet hours
    response = alex.post(f"/veterans/{world['sam']}/compose", {"body": "Sleep well, Sam"},
                         follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "quiet hours for Sam, so it goes out Tue 8 Dec, 9:00 AM EST" in text
    assert "Sleep well, Sam" in text and "Waiting to send" in text
    with services.db.session() as db:
        message = db.scalars(select(Message).where(Message.kind == "compose")).one()
        outbox = db.scalars(select(Outbox).where(Outbox.message_id == message.id)).one()
    assert message.coach_id == world["alex"] and message.status == "queued"
    assert outbox.respect_quiet_hours and outbox.to_participant
    assert ("message.compose", world["sam"]) in _actions(services)


def test_resume_lifts_a_crisis_pause(alex: Visitor, services: Any,
                                     world: dict[str, int]) -> None:
    from bot.domain.nudges import pause_for_participant

    with services.db.session() as db:
        pause_for_participant(db, world["sam"], services.clock.now())
    page = alex.text(f"/veterans/{world['sam']}")
    assert "Nudges are paused" in page and "Resume nudges" in page
    blocked = alex.post(f"/drafts/{world['sam_draft1']}/approve", follow_redirects=True)
    assert "paused after a crisis" in blocked.get_data(as_text=True)
    alex.post(f"/veterans/{world['sam']}/resume-nudges")
    with services.db.session() as db:
        sam = db.get(Participant, world["sam"])
        assert sam is not None and not sam.nudges_paused
    assert ("nudges.resume", world["sam"]) in _actions(services)
    assert alex.post(f"/drafts/{world['sam_draft1']}/approve").status_code == 302
    assert _nudge(services, world["sam_draft1"]).status == "approved"


def test_escalation_acknowledge_note_resolve_with_who_and_when(
        alex: Visitor, services: Any, world: dict[str, int]) -> None:
    url = f"/escalations/{world['sam_alert']}"
    alex.post(url + "/ack")
    alex.post(url + "/note", {"body": "Called Sam, he is OK.\nWill check Friday."})
    alex.post(url + "/note", {"body": "  "})
    alex.post(url + "/resolve")
    with services.db.session() as db:
        escalation = db.get(Escalation, world["sam_alert"])
        notes = list(db.scalars(select(EscalationNote)))
    assert escalation is not None and escalation.acknowledged_by_id == world["alex"]
    assert escalation.resolved_by_id == world["alex"]
    assert escalation.resolved_at == services.clock.now()
    assert [n.body for n in notes] == ["Called Sam, he is OK.\nWill check Friday."]
    page = alex.text(url)
    assert "✓ by Alex Rivera, <time" in page and "Called Sam, he is OK." in page
    actions = [a for a, _ in _actions(services)]
    assert actions.count("escalation.ack") == 1 and "escalation.note" in actions
    assert "escalation.resolve" in actions
    assert f'data-escalation="{world["sam_alert"]}"' not in alex.text("/")


@pytest.mark.postgres
def test_a_second_approval_racing_the_first_sends_the_draft_once(
        pg_url: str, clock: Any, sender: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A double click (or an OK by SMS) committed between the dashboard's two reads of the draft."""
    from bot import create_app
    from bot.domain import nudges as nudge_rules
    from bot.domain.people import add_coach, add_participant
    from bot.models import Coach
    from bot.services import build_services
    from tests.conftest import COACH_PHONE, PARTICIPANT_PHONE, make_config
    from tests.dashboard_support import add_nudge

    services = build_services(make_config(pg_url), clock=clock, sender=sender)
    try:
        with services.db.session() as db:
            coach = add_coach(db, name="Alex Rivera", phone=COACH_PHONE, now=clock.now(),
                              username="alex", password="alex-password")
            sam = add_participant(db, phone=PARTICIPANT_PHONE, name="Sam Carter", coach=coach,
                                  timezone="America/New_York", now=clock.now())
            nudge_id = add_nudge(db, sam, "t:race", "Hi Sam, one walk today?", clock.now()).id
            coach_id = coach.id
        app = create_app(services=services)
        app.config.update(TESTING=True)
        visitor = Visitor(app.test_client())
        assert visitor.login("alex", "alex-password").status_code == 302
        real_get_for = nudge_rules.get_for

        def first_click_lands_meanwhile(db: Any, number: int, who: Any) -> Nudge:
            monkeypatch.setattr(nudge_rules, "get_for", real_get_for)
            with services.db.session() as other:
                alex = other.get(Coach, coach_id)
                nudge_rules.approve(other, real_get_for(other, number, alex), alex,
                                    clock.now())
            return real_get_for(db, number, who)

        monkeypatch.setattr(nudge_rules, "get_for", first_click_lands_meanwhile)
        page = visitor.post(f"/drafts/{nudge_id}/approve", follow_redirects=True)
        with services.db.session() as db:
            rows = db.scalars(select(Outbox).join(Message, Message.id == Outbox.message_id)
                              .where(Message.kind == "nudge")).all()
        assert len(rows) == 1
        assert "was already approved" in page.get_data(as_text=True)
    finally:
        services.db.dispose()
