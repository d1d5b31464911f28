"""Shared dashboard plumbing: the signed-in user, guards, CSRF, headers, errors, filters."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import Markup
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from bot.core.ids import in_range
from bot.core.textclean import has_control
from bot.dashboard.icons import icon
from bot.domain.access import is_staff
from bot.domain.audit import audit as add_audit
from bot.domain.inbox import unread_count
from bot.models import Coach
from bot.outbox.delivery import MessageStatus, OutboxState
from bot.services import Services

csrf = CSRFProtect()  # init_app'd by bot.dashboard; checked by each blueprint's before_request

F = TypeVar("F", bound=Callable[..., Any])

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
STATUS_WORDS = {"active": "Active", "paused": "Paused", "opted_out": "Opted out",
                "completed": "Completed", "maintenance": "Monthly check-ins",
                "withdrawn": "Withdrew"}


def services() -> Services:
    """Return the app's Services."""
    return cast(Services, current_app.extensions["peerline"])


def now() -> datetime:
    """Return the injected clock's time."""
    return services().clock.now()


def user() -> Coach:
    """Return the signed-in coach or staff member (views behind login_required only)."""
    return cast(Coach, g.user)


def auth_marker(coach: Coach) -> str:
    """Return a short value that changes with the password or the session version.

    Logging out bumps the account's session version, so a saved cookie stops working.
    """
    seed = f"{coach.password_hash or ''}:{coach.session_version or 0}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def load_user() -> None:
    """Put the session's coach (or None) on `g.user`."""
    g.user = None
    coach_id = session.get("coach_id")
    if not isinstance(coach_id, int):
        return
    with services().db.reading() as db:  # a read: never the write lock (bot/core/db.py)
        coach = db.get(Coach, coach_id)
        if coach is None or not coach.active or session.get("auth") != auth_marker(coach):
            coach = None
        else:
            g.inbox_unread = unread_count(db, coach)  # the nav's count (base.html)
            db.expunge(coach)
    if coach is None:
        session.clear()
        return
    g.user = coach


def _to_login() -> Response:
    # Come back to the page after logging in; a form post cannot be replayed, so go home.
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target))  # type: ignore[return-value]


def login_required(view: F) -> F:
    """Send visitors who are not signed in to the login page."""
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:
            return _to_login()
        return view(*args, **kwargs)
    return cast(F, wrapped)


def staff_required(view: F) -> F:
    """Allow staff only (403 for coaches, the login page for visitors)."""
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:
            return _to_login()
        if not is_staff(g.user):
            return error_page(403, "This page is for program staff.")
        return view(*args, **kwargs)
    return cast(F, wrapped)


def safe_next(target: str | None, default: str = "home.index") -> str:
    """Return `target` if it is a path on this site, else the URL of `default`.

    Browsers drop tabs and newlines from a Location (`/\t/evil.com` becomes `//evil.com`),
    so any space or control character makes the target unsafe.
    """
    if (target and target.startswith("/") and not target.startswith("//")
            and "\\" not in target and all(" " < ch != "\x7f" for ch in target)):
        return target
    return url_for(default)


def back(default: str = "home.index", **values: Any) -> Response:
    """Redirect to the form's `next` field (a local path) or to `default`."""
    target = request.form.get("next")
    if target and safe_next(target) == target:
        return redirect(target)  # type: ignore[return-value]
    return redirect(url_for(default, **values))  # type: ignore[return-value]


def audit(db: Session, action: str, target_type: str | None = None,
          target_id: int | None = None, **detail: Any) -> None:
    """Record an audit-log entry for the signed-in user."""
    add_audit(db, action, now(), coach=user(), via="web", target_type=target_type,
              target_id=target_id, **detail)


def error_page(code: int, message: str) -> Response:
    """Render a calm error page with `code`."""
    titles = {400: "Something was wrong with that request", 403: "Not allowed",
              404: "Not found", 429: "Please wait", 405: "Not allowed"}
    body = render_template("error.html", code=code, title=titles.get(code, "Error"),
                           message=message)
    return Response(body, status=code)


def _handle_http(exc: HTTPException) -> Response:
    messages = {404: "That page does not exist, or it is not one of yours.",
                403: "You are not allowed to do that."}
    code = exc.code or 500
    return error_page(code, messages.get(code, exc.description or ""))


def _handle_csrf(exc: CSRFError) -> Response:
    return error_page(400, "This form was out of date or incomplete. Go back, reload the page "
                           "and try again.")


def _csrf_check() -> None:
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


def _ids_in_range() -> None:
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and not in_range(value):
            abort(404)


def _no_control_characters() -> Response | None:
    # Query strings and `next` are never stored (safe_next checks `next`); the rest of a form is.
    for key, value in request.form.items(multi=True):
        if key != "next" and (has_control(key) or has_control(value)):
            return error_page(400, "That form held characters that cannot be stored "
                                   "(control characters). Retype it and try again.")
    return None


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static" and not request.path.startswith("/dashboard-static"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def blueprint(name: str, import_name: str, url_prefix: str | None = None) -> Blueprint:
    """Return a dashboard blueprint with user loading, CSRF, headers and error pages."""
    bp = Blueprint(name, import_name, url_prefix=url_prefix)
    bp.before_request(_no_control_characters)
    bp.before_request(_ids_in_range)
    bp.before_request(load_user)
    bp.before_request(_csrf_check)
    bp.after_request(_headers)
    bp.register_error_handler(HTTPException, _handle_http)
    bp.register_error_handler(CSRFError, _handle_csrf)
    return bp


# ---- template helpers -------------------------------------------------------------------

def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or services().config.program.timezone)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def local(value: datetime | None, tz: str | None = None) -> datetime | None:
    """Return `value` in zone `tz` (default: the viewer's)."""
    if value is None:
        return None
    if tz is None and g.get("user") is not None:
        tz = g.user.timezone
    return value.astimezone(_zone(tz))


def when(value: datetime | None, tz: str | None = None, with_zone: bool = True) -> str:
    """Format like 'Mon 7 Dec, 10:00 AM EST' in zone `tz` (default: the viewer's)."""
    moment = local(value, tz)
    if moment is None:
        return "never"
    text = moment.strftime("%a %-d %b, %-I:%M %p")
    if moment.year != now().astimezone(moment.tzinfo).year:
        text = moment.strftime("%a %-d %b %Y, %-I:%M %p")
    return f"{text} {moment.tzname()}" if with_zone else text


def ago(value: datetime | None) -> str:
    """Say how long ago `value` was, in words a phone screen can hold."""
    if value is None:
        return "never"
    seconds = (now() - value).total_seconds()
    if seconds < 0:
        return "in " + _span(-seconds)
    if seconds < 60:
        return "just now"
    return _span(seconds) + " ago"


def _span(seconds: float) -> str:
    for size, unit in ((86400 * 7, "week"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "less than a minute"


_HELD: dict[str, tuple[str, str, bool]] = {
    OutboxState.PENDING: ("clock", "Waiting to send", True),
    OutboxState.CLAIMED: ("clock", "Sending now", True),
    OutboxState.HELD: ("pause", "Held: nudges are paused", True),
    OutboxState.CANCELLED: ("cross", "Not sent (cancelled)", False),
    OutboxState.EXPIRED: ("cross", "Not sent (too late)", False),
    OutboxState.FAILED: ("warn", "Failed to send", False),
}
_STATUS: dict[str, tuple[str, str]] = {
    MessageStatus.TWIML: ("check", "Sent as a reply"),
    MessageStatus.SENT: ("check", "Sent"),
    MessageStatus.SENDING: ("check", "Sent"),
    MessageStatus.ACCEPTED: ("check", "Sent"),
    MessageStatus.DELIVERED: ("double-check", "Delivered"),
    MessageStatus.READ: ("double-check", "Read"),
    MessageStatus.UNDELIVERED: ("warn", "Not delivered"),
    MessageStatus.FAILED: ("warn", "Failed to send"),
    MessageStatus.CANCELED: ("cross", "Not sent (cancelled)"),  # Twilio's spelling, on messages
    MessageStatus.EXPIRED: ("cross", "Not sent (too late)"),
    MessageStatus.RECEIVED: ("", "Received"),
}


def delivery(status: str, outbox_state: str | None) -> tuple[Markup, str, bool]:
    """Return (inline SVG icon, words, still_pending) for a message's delivery status."""
    if status == MessageStatus.QUEUED and outbox_state in _HELD:
        name, words, pending = _HELD[outbox_state]
        return icon(name), words, pending
    if status == MessageStatus.QUEUED:
        return icon("clock"), "Waiting to send", True
    name, words = _STATUS.get(status, ("", status.capitalize()))
    return icon(name), words, False


def init_app(app: Flask) -> None:
    """Add the time filters, status words and program name to Jinja."""
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["iso"] = lambda v: v.isoformat() if v else ""
    app.jinja_env.globals["STATUS_WORDS"] = STATUS_WORDS
    app.jinja_env.globals["delivery"] = delivery
    app.jinja_env.globals["icon"] = icon

    @app.context_processor
    def _program() -> dict[str, Any]:
        return {"program_name": services().config.program.name}
