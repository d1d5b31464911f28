"""Log in, log out and change password; login rate limiting per account and per address."""

from __future__ import annotations

import functools
import math
from datetime import datetime, timedelta

from flask import (
    Flask,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from bot.dashboard.common import (
    audit,
    auth_marker,
    blueprint,
    login_required,
    now,
    safe_next,
    services,
    user,
)
from bot.domain.audit import audit as add_audit
from bot.models import Coach, LoginFailure

bp = blueprint("auth", __name__)

ACCOUNT_LIMIT = 5  # failed logins before an account is locked
ACCOUNT_LOCK = timedelta(minutes=15)
ADDRESS_LIMIT = 20  # failed logins from one address within ADDRESS_WINDOW
ADDRESS_WINDOW = timedelta(minutes=15)


@functools.cache
def _dummy_hash() -> str:
    """Return the hash checked when the username is unknown, so both cases take the same time.

    Made when the app is built (init_app), not at import: a one-shot CLI command
    imports this module and would pay the ~90 ms hash for nothing.
    """
    return generate_password_hash("peerline-no-such-user")


def _address_blocked_until(db: Session, address: str, moment: datetime) -> datetime | None:
    """Return when `address` may try again, or None if it may try now.

    Failures are rows in login_failures, so every worker and every web node
    counts the same ones.
    """
    count, oldest = db.execute(
        select(func.count(), func.min(LoginFailure.created_at)).where(
            LoginFailure.address == address,
            LoginFailure.created_at > moment - ADDRESS_WINDOW)).one()
    return oldest + ADDRESS_WINDOW if count >= ADDRESS_LIMIT and oldest else None


def _username_blocked_until(db: Session, username: str, moment: datetime) -> datetime | None:
    """Return until when `username` is locked, or None; the same for known and unknown names.

    Failures are counted per username as typed, so a real account and a made-up one
    lock after the same number of tries and answer alike.
    """
    count, newest = db.execute(
        select(func.count(), func.max(LoginFailure.created_at)).where(
            LoginFailure.username == username[:80],
            LoginFailure.created_at > moment - ACCOUNT_LOCK)).one()
    return newest + ACCOUNT_LOCK if count >= ACCOUNT_LIMIT and newest else None


def _login_failed(db: Session, address: str, username: str, moment: datetime) -> None:
    """Count one failed login from `address` for `username`; forget failures out of the window."""
    db.execute(delete(LoginFailure).where(
        LoginFailure.created_at <= moment - max(ADDRESS_WINDOW, ACCOUNT_LOCK)))
    db.add(LoginFailure(address=address[:64], username=username[:80] or None,
                        created_at=moment))


def _wait_text(until: datetime) -> str:
    minutes = max(1, math.ceil((until - now()).total_seconds() / 60))
    return f"Too many tries. Please wait {minutes} minute{'s' if minutes != 1 else ''} " \
           "and try again, or ask program staff to help."


def _render_login(error: str | None = None, status: int = 200) -> Response:
    body = render_template("login.html", error=error, next=request.values.get("next", ""),
                           username=request.form.get("username", ""))
    return Response(body, status=status)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """Show the login form; sign in with a username and password."""
    if request.method == "GET":
        if g.get("user") is not None:
            return redirect(safe_next(request.args.get("next")))  # type: ignore[return-value]
        return _render_login()
    moment = now()
    address = (request.remote_addr or "unknown")[:64]
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    with services().db.session() as db:
        blocked = _address_blocked_until(db, address, moment)
        if blocked is not None:
            return _render_login(_wait_text(blocked), 429)
        coach = db.scalar(select(Coach).where(Coach.username == username)) if username else None
        locked = _username_blocked_until(db, username, moment) if username else None
        if locked is not None:
            _login_failed(db, address, "", moment)  # counts for the address, not the lock
            add_audit(db, "login.locked", moment, via="web",
                      actor_id=coach.id if coach else None, target_type="coach",
                      target_id=coach.id if coach else None, username=username[:80])
            return _render_login(_wait_text(locked), 429)
        good = check_password_hash(coach.password_hash if coach and coach.password_hash
                                   else _dummy_hash(), password)
        if coach is None or not coach.password_hash or not coach.active or not good:
            _login_failed(db, address, username, moment)
            if coach is not None:
                coach.failed_logins = (coach.failed_logins or 0) + 1
                if coach.failed_logins >= ACCOUNT_LIMIT:
                    coach.locked_until = moment + ACCOUNT_LOCK
                    coach.failed_logins = 0
            add_audit(db, "login.failed", moment, via="web",
                      actor_id=coach.id if coach else None, target_type="coach",
                      target_id=coach.id if coach else None, username=username[:80])
            return _render_login("That username and password don't match. Please try again.",
                                 401)
        coach.failed_logins = 0
        coach.locked_until = None
        coach.last_login_at = moment
        add_audit(db, "login", moment, coach=coach, via="web", target_type="coach",
                  target_id=coach.id)
        marker = auth_marker(coach)
        coach_id = coach.id
        # The account's own count starts again; the address's does not (it would let one
        # known password reset a guessing run from the same address).
        db.execute(delete(LoginFailure).where(LoginFailure.username == username[:80]))
    cookie.clear()  # a fresh session on every login (no fixation)
    cookie.permanent = True
    cookie["coach_id"] = coach_id
    cookie["auth"] = marker
    return redirect(safe_next(request.form.get("next")))  # type: ignore[return-value]


@bp.post("/logout")
def logout() -> Response:
    """Sign out everywhere (server-side) and return to the login page."""
    if g.get("user") is not None:
        with services().db.session() as db:
            coach = db.get(Coach, user().id, with_for_update=True)
            if coach is not None:  # every saved cookie of this account stops working
                coach.session_version = (coach.session_version or 0) + 1
            audit(db, "logout", "coach", user().id)
    cookie.clear()
    flash("You are signed out.", "ok")
    return redirect(url_for("auth.login"))  # type: ignore[return-value]


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password() -> Response | str:
    """Change the signed-in user's password (other sessions end)."""
    if request.method == "GET":
        return render_template("password.html", error=None)
    current = request.form.get("current", "")
    new = request.form.get("new", "")
    again = request.form.get("again", "")
    error = None
    if not check_password_hash(user().password_hash or _dummy_hash(), current):
        error = "Your current password is not right."
    elif len(new) < 8:
        error = "Choose a new password of at least 8 characters."
    elif new != again:
        error = "The two new passwords are not the same."
    elif new == current:
        error = "The new password is the same as the current one."
    if error:
        return Response(render_template("password.html", error=error), status=400)
    with services().db.session() as db:
        coach = db.get(Coach, user().id)
        assert coach is not None
        coach.password_hash = generate_password_hash(new)
        audit(db, "password.change", "coach", coach.id)
        marker = auth_marker(coach)
    cookie["auth"] = marker
    flash("Your password is changed. Other devices are signed out.", "ok")
    return redirect(url_for("home.index"))  # type: ignore[return-value]


def init_app(app: Flask) -> None:
    """Register the login pages."""
    _dummy_hash()  # before the first login, whose timing must not tell
    app.register_blueprint(bp)
