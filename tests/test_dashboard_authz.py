"""Walk every dashboard route as a logged-out visitor, as the wrong coach, and as staff."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.models import AuditLog, Escalation, EscalationNote, Message, Nudge, Participant
from tests.dashboard_support import Visitor, add_escalation, csrf_from

DASHBOARD = {"auth", "home", "veterans", "escalations", "staff"}
PUBLIC = {"auth.login"}


def _routes(app: Any, world: dict[str, int]) -> list[tuple[str, str, str]]:
    """Return (endpoint, method, url) for every dashboard route, aimed at Blake's things."""
    values = {"participant_id": world["robin"], "nudge_id": world["robin_draft"],
              "escalation_id": world["robin_alert"], "kind": "messages"}
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in DASHBOARD:
            continue
        unknown = set(rule.arguments) - set(values)
        assert not unknown, f"teach this test about {unknown} in {rule.rule}"
        url = rule.rule
        for name in rule.arguments:
            url = url.replace(f"<int:{name}>", str(values[name])).replace(f"<{name}>",
                                                                        str(values[name]))
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, url))
    return routes


def _form(endpoint: str, world: dict[str, int]) -> dict[str, Any]:
    return {"body": "hijack", "ids": [str(world["robin_draft"])], "coach": str(world["alex"]),
            "name": "Intruder", "phone": "+12025550199", "timezone": "America/New_York",
            "current": "alex-password", "new": "changed-password", "again": "changed-password"}


def _robin_untouched(services: Any, world: dict[str, int]) -> None:
    with services.db.session() as db:
        draft = db.get(Nudge, world["robin_draft"])
        alert = db.get(Escalation, world["robin_alert"])
        robin = db.get(Participant, world["robin"])
        assert draft is not None and draft.status == "pending" and draft.body.startswith("Hi Ro")
        assert alert is not None and alert.acknowledged_at is None and alert.resolved_at is None
        assert robin is not None and robin.status == "active" and robin.coach_id == world["blake"]
        assert robin.nudges_paused is False
        assert db.scalar(select(func.count(EscalationNote.id))) == 0
        assert db.scalar(select(func.count(Message.id)).where(Message.kind == "compose")) == 0
        assert db.scalar(select(func.count(Participant.id))) == 2
        assert db.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "export")) == 0


def test_the_walk_covers_every_kind_of_dashboard_route(app: Any, world: dict[str, int]) -> None:
    endpoints = {endpoint for endpoint, _, _ in _routes(app, world)}
    assert {"home.index", "home.approve", "home.edit", "home.reject", "home.approve_all",
            "veterans.show", "veterans.compose", "veterans.resume", "escalations.show",
            "escalations.acknowledge", "escalations.note", "escalations.resolve",
            "staff.overview", "staff.add_veteran", "staff.pause", "staff.resume",
            "staff.reassign", "staff.flows", "staff.exports", "staff.export", "staff.audit_log",
            "staff.failed", "auth.login", "auth.logout", "auth.password"} <= endpoints


def test_logged_out_visitor_is_sent_to_login_everywhere(app: Any, services: Any,
                                                        world: dict[str, int]) -> None:
    client = app.test_client()
    for endpoint, method, url in _routes(app, world):
        if endpoint in PUBLIC:
            continue
        token = csrf_from(client.get("/login").get_data(as_text=True))
        data = {"csrf_token": token, **_form(endpoint, world)} if method == "POST" else None
        response = client.open(url, method=method, data=data)
        assert response.status_code == 302, (method, url, response.status_code)
        assert response.headers["Location"].startswith("/login"), (method, url)
        body = response.get_data(as_text=True)
        assert "Robin" not in body and "secret draft" not in body
    _robin_untouched(services, world)


def test_wrong_coach_sees_and_changes_nothing_of_another_coachs(app: Any, services: Any,
                                                                world: dict[str, int]) -> None:
    alex = Visitor(app.test_client())
    assert alex.login("alex", "alex-password").status_code == 302
    for endpoint, method, url in _routes(app, world):
        if endpoint in {"auth.logout", "auth.password", "auth.login"}:
            continue  # about the visitor's own account, not someone else's data
        if method == "POST":
            response = alex.post(url, _form(endpoint, world))
        else:
            response = alex.get(url)
        body = response.get_data(as_text=True)
        if endpoint.startswith("staff."):
            assert response.status_code == 403, (method, url, response.status_code)
        elif endpoint in {"home.index", "home.approve_all"}:
            assert response.status_code in (200, 302), (method, url)
        else:
            assert response.status_code == 404, (method, url, response.status_code)
        for secret in ("Robin", "secret draft", "Robin private words", "Robin crisis words"):
            assert secret not in body, (method, url, secret)
    home = alex.text("/")
    assert "Robin" not in home and "Sam" in home
    _robin_untouched(services, world)


def test_staff_see_every_page(app: Any, world: dict[str, int]) -> None:
    staff = Visitor(app.test_client())
    assert staff.login("sage", "sage-password").status_code == 302
    for endpoint, method, url in _routes(app, world):
        if method != "GET" or endpoint == "auth.login":
            continue
        assert staff.get(url).status_code == 200, url
    home = staff.text("/")
    assert "Robin Lee" in home and "Sam Carter" in home and "secret draft" in home


def test_coach_acts_on_own_things_only_through_the_same_routes(app: Any, services: Any,
                                                               world: dict[str, int]) -> None:
    blake = Visitor(app.test_client())
    blake.login("blake", "blake-password")
    assert blake.post(f"/drafts/{world['robin_draft']}/approve").status_code == 302
    assert blake.post(f"/drafts/{world['sam_draft1']}/approve").status_code == 404
    with services.db.session() as db:
        assert db.get(Nudge, world["robin_draft"]).status == "approved"  # type: ignore[union-attr]
        assert db.get(Nudge, world["sam_draft1"]).status == "pending"  # type: ignore[union-attr]


def test_a_coach_loses_sight_of_a_veteran_given_to_another_coach(app: Any,
                                                                 world: dict[str, int]) -> None:
    alex = Visitor(app.test_client())
    alex.login("alex", "alex-password")
    alert = f"/escalations/{world['sam_alert']}"
    assert alex.post(f"{alert}/resolve").status_code == 302  # closed while Sam was Alex's
    sage = Visitor(app.test_client())
    sage.login("sage", "sage-password")
    sage.post(f"/staff/veterans/{world['sam']}/reassign", {"coach": str(world["blake"])})
    for response in (alex.get(alert), alex.post(f"{alert}/note", {"body": "still here"})):
        assert response.status_code == 404
        assert "Sam Carter" not in response.get_data(as_text=True)


def test_after_a_reassignment_sms_and_dashboard_agree_the_old_coach_is_out(
        app: Any, services: Any, world: dict[str, int]) -> None:
    """One ownership rule (bot/domain/access.py): the old coach can neither open nor ACK."""
    from tests.conftest import COACH_PHONE, Sms, replies

    alex = Visitor(app.test_client())
    alex.login("alex", "alex-password")
    closed = world["sam_alert"]
    assert alex.post(f"/escalations/{closed}/resolve").status_code == 302
    with services.db.session() as db:
        open_id = add_escalation(db, db.get(Participant, world["sam"]), "t:sam:e2",
                                 services.clock.now()).id
    sage = Visitor(app.test_client())
    sage.login("sage", "sage-password")
    sage.post(f"/staff/veterans/{world['sam']}/reassign", {"coach": str(world["blake"])})

    sms = Sms(app.test_client())
    for number in (closed, open_id):
        assert alex.get(f"/escalations/{number}").status_code == 404
        answer = replies(sms.send(COACH_PHONE, f"ACK {number}"))
        assert answer == [f"#{number} is not one of yours."]
    with services.db.session() as db:
        still_open = db.get(Escalation, open_id)
        assert still_open is not None and still_open.acknowledged_at is None
    assert replies(sms.send("+12025550102", f"ACK {open_id}")) == [
        f"Escalation #{open_id} acknowledged. Thank you."]
