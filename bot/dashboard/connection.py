"""Dashboard pages for the connection (SPEC §11): the inbox and the contact log form.

Rules:
- A coach sees their own veterans' inbox items (staff: everyone's, without
  marking them read); newest first, paged.
- Opening a veteran's page marks that veteran's items read for their coach
  (bot/dashboard/veterans.py); "Mark unread" puts one back.
- The contact form records a call, visit, text or tried with date, minutes,
  topics from the strategy library and a note (bot/contacts.py).
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask import Flask, Response, abort, flash, g, render_template, request

from bot.dashboard.common import back, blueprint, login_required, now, services, user
from bot.dashboard.paging import page_arg
from bot.dashboard.queries import participant_or_404
from bot.domain import inbox
from bot.domain.contacts import KINDS, ContactError, log_contact, strategy_library

bp = blueprint("connection", __name__)


def library() -> dict[str, str]:
    """Return the strategy library's names by id."""
    return strategy_library(str(services().config.flows.dir))


@bp.get("/inbox")
@login_required
def index() -> str:
    """Show the veterans' own words sent to the coach, newest first, unread marked."""
    coach = user()
    number = page_arg()
    with services().db.reading() as db:
        items, older = inbox.page_for(db, coach, number)
    return render_template("inbox.html", items=items, page=number, older=older,
                           unread=g.get("inbox_unread", 0))


@bp.post("/inbox/<int:item_id>/unread")
@login_required
def mark_unread(item_id: int) -> Response:
    """Mark one inbox item unread again."""
    with services().db.session() as db:
        if not inbox.mark_unread(db, user(), item_id):
            abort(404)
    flash("Marked unread.", "ok")
    return back("connection.index")


def _contact_time(raw: str, zone: str, moment: datetime) -> datetime:
    """Return the contact's time: the given local date (noon, or now if today), else now."""
    if not raw:
        return moment
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise ContactError("Give the date as YYYY-MM-DD.") from None
    local_now = moment.astimezone(ZoneInfo(zone))
    if day == local_now.date():
        return moment
    return datetime.combine(day, time(12), tzinfo=ZoneInfo(zone))


@bp.post("/veterans/<int:participant_id>/contacts")
@login_required
def log(participant_id: int) -> Response:
    """Record a contact from the veteran's page."""
    coach = user()
    moment = now()
    form = request.form
    known = library()
    try:
        with services().db.session() as db:
            participant = participant_or_404(db, participant_id, coach)
            kind = form.get("kind", "")
            if kind not in KINDS:
                raise ContactError("Choose what kind of contact it was.")
            raw_minutes = form.get("minutes", "").strip()
            if raw_minutes and not raw_minutes.isdigit():
                raise ContactError("Minutes must be a whole number, e.g. 20.")
            topics = [t for t in form.getlist("topics") if t in known]
            log_contact(db, coach, participant, kind=kind, now=moment, via="web",
                        at=_contact_time(form.get("date", "").strip(), coach.timezone, moment),
                        minutes=int(raw_minutes) if raw_minutes else None, topics=topics,
                        note=form.get("note", "").strip())
            first = participant.first_name
    except ContactError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Logged: {kind} with {first}.", "ok")
    return back("veterans.show", participant_id=participant_id)


def init_app(app: Flask) -> None:
    """Register the inbox and contact pages."""
    app.register_blueprint(bp)

