"""Dashboard accounts: login, lockout, per-address backoff, CSRF, logout, password change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.models import AuditLog, Coach, Nudge
from tests.dashboard_support import Visitor, csrf_from


def _audit(services: Any, action: str) -> list[AuditLog]:
    with services.db.session() as db:
        return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_login_sets_a_hardened_session_and_is_audited(client: Any, services: Any,
                                                      world: dict[str, int]) -> None:
    visitor = Visitor(client)
    response = visitor.login("alex", "alex-password")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = " ".join(response.headers.getlist("Set-Cookie")).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert [a.actor_id for a in _audit(services, "login")] == [world["alex"]]
    home = client.get("/")
    assert home.status_code == 200 and "Hello, Alex" in home.get_data(as_text=True)
    assert "default-src 'self'" in home.headers["Content-Security-Policy"]
    assert home.headers["Cache-Control"] == "no-store"


def test_secure_cookie_when_configured(services: Any) -> None:
    from bot import create_app
    from tests.conftest import make_config

    services.config = make_config(services.config.database.url, web__secure_cookies=True)
    assert create_app(services=services).config["SESSION_COOKIE_SECURE"] is True


def test_wrong_password_and_unknown_user_get_the_same_answer(client: Any, services: Any,
                                                             world: dict[str, int]) -> None:
    visitor = Visitor(client)
    bad = visitor.login("alex", "nope-nope-nope")
    unknown = visitor.login("nobody", "nope-nope-nope")
    assert bad.status_code == unknown.status_code == 401
    for response in (bad, unknown):
        assert "That username and password don&#39;t match" in response.get_data(as_text=True)
    assert len(_audit(services, "login.failed")) == 2
    assert client.get("/").status_code == 302


def test_account_locks_after_five_failures_then_unlocks(client: Any, services: Any,
                                                        clock: Any, world: dict[str, int]) -> None:
    visitor = Visitor(client)
    for _ in range(5):
        assert visitor.login("alex", "wrong-password").status_code == 401
    locked = visitor.login("alex", "alex-password")
    assert locked.status_code == 429
    assert "Too many tries. Please wait 15 minutes" in locked.get_data(as_text=True)
    with services.db.session() as db:
        coach = db.get(Coach, world["alex"])
        assert coach is not None and coach.locked_until == clock.now() + timedelta(minutes=15)
    clock.advance(timedelta(minutes=16))
    assert visitor.login("alex", "alex-password").status_code == 302
    with services.db.session() as db:
        coach = db.get(Coach, world["alex"])
        assert coach is not None and coach.failed_logins == 0 and coach.locked_until is None


def test_one_address_is_slowed_down_across_usernames(client: Any, clock: Any,
                                                     world: dict[str, int]) -> None:
    visitor = Visitor(client)
    for n in range(20):
        assert visitor.login(f"guess{n}", "password123").status_code == 401
    refused = visitor.login("blake", "blake-password")
    assert refused.status_code == 429
    other = Visitor(client.application.test_client())
    other.client.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert other.login("blake", "blake-password").status_code == 302
    clock.advance(timedelta(minutes=16))
    assert visitor.login("blake", "blake-password").status_code == 302


def test_the_address_limit_is_shared_by_every_worker(client: Any, services: Any, clock: Any,
                                                      sender: Any, world: dict[str, int]) -> None:
    from bot import create_app
    from bot.models import LoginFailure
    from bot.services import build_services

    other = build_services(services.config, clock=clock, sender=sender)  # another worker
    try:
        second = create_app(services=other)
        second.config.update(TESTING=True)
        for n in range(10):
            assert Visitor(client).login(f"guess{n}", "password123").status_code == 401
            assert Visitor(second.test_client()).login(f"try{n}", "password123") \
                .status_code == 401
        assert Visitor(second.test_client()).login("blake", "blake-password").status_code == 429
        assert Visitor(client).login("blake", "blake-password").status_code == 429
        clock.advance(timedelta(minutes=16))
        assert Visitor(second.test_client()).login("blake", "blake-password").status_code == 302
        with services.db.session() as db:  # a good login keeps the address's failures
            assert len(db.scalars(select(LoginFailure)).all()) == 20
    finally:
        other.db.dispose()


def test_behind_a_proxy_the_limit_counts_the_forwarded_address(services: Any,
                                                               world: dict[str, int]) -> None:
    from bot import create_app
    from tests.conftest import make_config

    services.config = make_config(services.config.database.url, web__proxy_hops=1)
    app = create_app(services=services)
    app.config.update(TESTING=True)

    def visitor(address: str) -> Visitor:
        client = app.test_client()
        client.environ_base.update(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=address)
        return Visitor(client)

    for n in range(20):
        assert visitor("203.0.113.7").login(f"guess{n}", "password123").status_code == 401
    assert visitor("203.0.113.7").login("blake", "blake-password").status_code == 429
    assert visitor("198.51.100.4").login("blake", "blake-password").status_code == 302


def test_inactive_coach_cannot_log_in(client: Any, services: Any, world: dict[str, int]) -> None:
    with services.db.session() as db:
        coach = db.get(Coach, world["blake"])
        assert coach is not None
        coach.active = False
    assert Visitor(client).login("blake", "blake-password").status_code == 401


def test_forms_without_a_csrf_token_are_refused(client: Any, services: Any,
                                                world: dict[str, int]) -> None:
    assert client.post("/login", data={"username": "alex",
                                       "password": "alex-password"}).status_code == 400
    visitor = Visitor(client)
    visitor.login("alex", "alex-password")
    url = f"/drafts/{world['sam_draft1']}/approve"
    assert client.post(url).status_code == 400
    assert client.post(url, data={"csrf_token": "forged"}).status_code == 400
    with services.db.session() as db:
        nudge = db.get(Nudge, world["sam_draft1"])
        assert nudge is not None and nudge.status == "pending"
    assert visitor.post(url).status_code == 302
    with services.db.session() as db:
        nudge = db.get(Nudge, world["sam_draft1"])
        assert nudge is not None and nudge.status == "approved"


def test_twilio_webhook_needs_no_csrf_token(sms: Any, world: dict[str, int]) -> None:
    assert sms.send("+12025550123", "hello").status_code == 200


def test_logout_is_a_post_and_ends_the_session(client: Any, services: Any,
                                               world: dict[str, int]) -> None:
    visitor = Visitor(client)
    visitor.login("alex", "alex-password")
    assert client.get("/logout").status_code == 405
    response = visitor.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302
    assert len(_audit(services, "logout")) == 1


def test_login_never_redirects_off_site(client: Any, world: dict[str, int]) -> None:
    page = client.get("/login?next=//evil.example/")
    token = csrf_from(page.get_data(as_text=True))
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        client.post("/logout", data={"csrf_token": token})
        token = csrf_from(client.get("/login").get_data(as_text=True))
        response = client.post("/login", data={"username": "alex", "password": "alex-password",
                                                "csrf_token": token, "next": target})
        assert response.headers["Location"] == "/", target
        token = csrf_from(client.get("/").get_data(as_text=True))
    response = client.get("/veterans/1")
    assert response.status_code == 200


def test_password_change_checks_and_signs_out_other_devices(app: Any, services: Any,
                                                            world: dict[str, int]) -> None:
    phone, laptop = Visitor(app.test_client()), Visitor(app.test_client())
    phone.login("alex", "alex-password")
    laptop.login("alex", "alex-password")
    wrong = phone.post("/account/password", {"current": "nope", "new": "a-new-password",
                                             "again": "a-new-password"})
    assert wrong.status_code == 400 and "current password is not right" in wrong.get_data(
        as_text=True)
    mismatch = phone.post("/account/password", {"current": "alex-password",
                                                "new": "a-new-password", "again": "other-one"})
    assert mismatch.status_code == 400
    short = phone.post("/account/password", {"current": "alex-password", "new": "short",
                                             "again": "short"})
    assert short.status_code == 400
    done = phone.post("/account/password", {"current": "alex-password",
                                            "new": "a-new-password", "again": "a-new-password"})
    assert done.status_code == 302
    assert phone.get("/").status_code == 200  # this device stays signed in
    assert laptop.get("/").status_code == 302  # the other one is signed out
    fresh = Visitor(app.test_client())
    assert fresh.login("alex", "alex-password").status_code == 401
    assert fresh.login("alex", "a-new-password").status_code == 302
    assert len(_audit(services, "password.change")) == 1
