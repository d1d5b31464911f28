"""The probe's dashboard findings: open redirect, session, logout, huge ids, NUL, login."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from tests.conftest import COACH_PHONE, replies, sign
from tests.dashboard_support import Visitor, csrf_from, world

HUGE = (2**31, 2**63, 2**64)
__all__ = ["world"]


@pytest.fixture
def db_url(any_db_url: str) -> str:
    """Run these on SQLite and on PostgreSQL (ids above 2^31 break only there)."""
    return any_db_url


@pytest.mark.parametrize("target", ["/%09/evil.com", "/%0a/evil.com", "/%0d%0a/x",
                                    "/%00", "/%20/evil.com", "/\t/evil.com"])
def test_login_next_never_leaves_the_site_and_never_fails(client: Any, world: dict[str, int],
                                                          target: str) -> None:
    page = client.get(f"/login?next={target}")
    assert page.status_code == 200
    token = csrf_from(page.get_data(as_text=True))
    from urllib.parse import unquote

    response = client.post("/login", data={"username": "alex", "password": "alex-password",
                                           "csrf_token": token, "next": unquote(target)})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    again = client.get(f"/login?next={target}")  # signed in: the GET redirects too
    assert again.status_code == 302 and again.headers["Location"] == "/"


def test_session_lasts_twelve_hours(app: Any, client: Any, clock: Any,
                                    world: dict[str, int]) -> None:
    assert app.permanent_session_lifetime == timedelta(hours=12)
    response = Visitor(client).login("alex", "alex-password")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    expires = next(p.split("=", 1)[1] for p in cookie.split("; ") if p.startswith("Expires="))
    from datetime import UTC, datetime

    left = parsedate_to_datetime(expires) - datetime.now(UTC)
    assert timedelta(hours=11, minutes=55) < left <= timedelta(hours=12, seconds=5)


def test_a_saved_cookie_does_not_work_after_logout(app: Any, world: dict[str, int]) -> None:
    phone = Visitor(app.test_client())
    phone.login("alex", "alex-password")
    saved = phone.client.get_cookie("session").value
    assert phone.post("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", saved)
    assert thief.get("/").status_code == 302  # sent to the login page
    assert thief.get(f"/veterans/{world['sam']}").status_code == 302
    fresh = Visitor(app.test_client())
    assert fresh.login("alex", "alex-password").status_code == 302
    assert fresh.get("/").status_code == 200


def test_huge_ids_answer_404_everywhere(client: Any, world: dict[str, int]) -> None:
    staff = Visitor(client)
    staff.login("sage", "sage-password")
    for number in HUGE:
        assert staff.get(f"/veterans/{number}").status_code == 404, number
        assert staff.get(f"/escalations/{number}").status_code == 404, number
        for url in (f"/drafts/{number}/approve", f"/drafts/{number}/edit",
                    f"/drafts/{number}/reject", f"/veterans/{number}/compose",
                    f"/veterans/{number}/resume-nudges", f"/escalations/{number}/ack",
                    f"/escalations/{number}/note", f"/escalations/{number}/resolve",
                    f"/staff/veterans/{number}/pause", f"/staff/veterans/{number}/resume",
                    f"/staff/veterans/{number}/reassign"):
            assert staff.post(url, {"body": "hi", "coach": "1"}).status_code == 404, url
        sam = world["sam"]
        moved = staff.post(f"/staff/veterans/{sam}/reassign", {"coach": str(number)})
        assert moved.status_code == 302
        approved = staff.post("/drafts/approve-all", {"ids": str(number)})
        assert approved.status_code == 302


def test_huge_id_in_the_status_callback_is_ignored(client: Any, world: dict[str, int]) -> None:
    for number in HUGE:
        params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}
        path = f"/sms/status?m={number}"
        response = client.post(path, data=params,
                               headers={"X-Twilio-Signature": sign(path, params)})
        assert response.status_code == 204


def test_coach_sms_with_a_huge_id_gets_an_answer(sms: Any, world: dict[str, int]) -> None:
    for verb in ("OK", "NO", "ACK", "RESUME"):
        for number in HUGE:
            answer = replies(sms.send(COACH_PHONE, f"{verb} {number}"))
            assert answer and answer[0].startswith("There is no ") \
                and answer[0].endswith(f"{number}."), (verb, answer)
    edit = replies(sms.send(COACH_PHONE, f"EDIT {2**63} new words"))
    assert edit == [f"There is no draft #{2**63}."]


@pytest.mark.parametrize("value", ["Sam\x00", "Sam\x01Carter", "a\x7fb"])
def test_control_characters_in_a_form_are_refused(client: Any, services: Any,
                                                  world: dict[str, int], value: str) -> None:
    staff = Visitor(client)
    staff.login("sage", "sage-password")
    response = staff.post("/staff/veterans/new", {"name": value, "phone": "+12025550177",
                                                  "coach": str(world["alex"]),
                                                  "timezone": "America/New_York"})
    assert response.status_code == 400
    alex = Visitor(client.application.test_client())
    alex.login("alex", "alex-password")
    compose = alex.post(f"/veterans/{world['sam']}/compose", {"body": f"hello {value}"})
    assert compose.status_code == 400
    login = client.application.test_client().post("/login", data={"username": "al\x00ex"})
    assert login.status_code == 400


def test_login_limits_do_not_tell_real_usernames_from_unknown(client: Any,
                                                              world: dict[str, int]) -> None:
    real, unknown = Visitor(client), Visitor(client)
    real_codes = [real.login("alex", "wrong-password").status_code for _ in range(6)]
    unknown_codes = [unknown.login("nosuchuser", "wrong-password").status_code
                     for _ in range(6)]
    assert real_codes == unknown_codes == [401] * 5 + [429]


def test_a_good_login_does_not_reset_the_address_count(client: Any, clock: Any,
                                                       world: dict[str, int]) -> None:
    visitor = Visitor(client)
    for n in range(19):
        assert visitor.login(f"guess{n}", "password123").status_code == 401
    assert visitor.login("blake", "blake-password").status_code == 302
    visitor.client.post("/logout", data={"csrf_token": visitor.token})
    assert visitor.login("guess-last", "password123").status_code == 401
    assert visitor.login("blake", "blake-password").status_code == 429
