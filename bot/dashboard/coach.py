"""The coach home page and the approval queue's actions."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, Response, flash, g, render_template, request

from bot.core.ids import parse_id
from bot.dashboard.caseload import counts, overdue_page, standings, veteran_page
from bot.dashboard.charts import fmt, sparkline_svg
from bot.dashboard.common import back, blueprint, login_required, now, services, user, when
from bot.dashboard.paging import CARDS, counted, page_arg, search_arg
from bot.dashboard.queries import (
    alert_counts,
    draft_count,
    drafts_page,
    names,
    nudge_or_404,
    open_escalations,
)
from bot.domain import nudges as nudge_rules
from bot.domain.access import is_staff, may_act
from bot.domain.contacts import contact_every
from bot.models import Nudge

bp = blueprint("home", __name__)
assets = Blueprint("dashboard", __name__, static_folder="static",
                   static_url_path="/dashboard-static", template_folder="templates")


def send_time(nudge: Nudge, moment: datetime) -> datetime:
    """Return when an approved draft would actually leave (its time, after quiet hours)."""
    return nudge_rules.leaves_at(nudge, services().config.program.quiet_hours, moment)


@bp.get("/")
@login_required
def index() -> str:
    """Show open escalations, drafts to approve, then the veterans who most need their coach first.

    Staff also see the overdue pairs (no contact for twice `contact_every`). Every list is
    one page of its own (paging.py); the search box narrows the veterans.
    """
    coach = user()
    moment = now()
    every = contact_every(services().config)
    q = search_arg()
    pages = {name: page_arg(name) for name in ("alerts", "drafts", "veterans", "overdue")}
    with services().db.reading() as db:
        alerts, waiting = alert_counts(db, coach)
        escalations = open_escalations(db, coach, page=pages["alerts"])
        total_drafts = draft_count(db, coach)
        drafts = [(n, send_time(n, moment)) for n in drafts_page(db, coach, pages["drafts"])]
        found = standings(db, coach, every, moment)
        tally = counts(found)
        rows, vets = veteran_page(db, found, every, moment, pages["veterans"], q)
        overdue, late = (overdue_page(db, found, every, moment, pages["overdue"])
                         if is_staff(coach) else ([], None))
        people = names(db, {e.acknowledged_by_id for e in escalations})
    return render_template(
        "home.html", escalations=escalations, drafts=drafts, rows=rows, people=people,
        sparkline=sparkline_svg, fmt=fmt, unread=g.get("inbox_unread", 0),
        alert_total=alerts, alert_waiting=waiting,
        alert_pager=counted("alerts", pages["alerts"], alerts, CARDS),
        draft_total=total_drafts,
        draft_pager=counted("drafts", pages["drafts"], total_drafts, CARDS),
        vet_pager=vets, tally=tally, q=q, overdue=overdue, overdue_pager=late,
        due_count=tally.due, contact_every=services().config.program.contact_every,
    )


def _approve(nudge_id: int, body: str | None) -> None:
    coach = user()
    moment = now()
    try:
        with services().db.session() as db:
            nudge = nudge_or_404(db, nudge_id, coach)
            expired = nudge_rules.approve(db, nudge, coach, moment, body=body) is None
            first = nudge.participant.first_name
            leaves = when(send_time(nudge, moment), nudge.participant.timezone)
    except nudge_rules.NudgeError as exc:
        flash(str(exc), "error")
        return
    if expired:
        flash(f"Too late to send: that message to {first} expired, so it was not sent.",
              "error")
        return
    word = "Edited and approved" if body is not None else "Approved"
    flash(f"{word}: the message to {first} goes out {leaves} ({first}'s time).", "ok")


@bp.post("/drafts/<int:nudge_id>/approve")
@login_required
def approve(nudge_id: int) -> Response:
    """Approve one draft as written."""
    _approve(nudge_id, None)
    return back()


@bp.post("/drafts/<int:nudge_id>/edit")
@login_required
def edit(nudge_id: int) -> Response:
    """Replace a draft's text and approve it."""
    _approve(nudge_id, request.form.get("body", ""))
    return back()


@bp.post("/drafts/<int:nudge_id>/reject")
@login_required
def reject(nudge_id: int) -> Response:
    """Reject one draft; nothing is sent."""
    coach = user()
    try:
        with services().db.session() as db:
            nudge = nudge_or_404(db, nudge_id, coach)
            nudge_rules.reject(db, nudge, coach, now())
            first = nudge.participant.first_name
    except nudge_rules.NudgeError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Rejected: nothing will be sent to {first} for that draft.", "ok")
    return back()


@bp.post("/drafts/approve-all")
@login_required
def approve_all() -> Response:
    """Approve the drafts that were on the page (not ones that arrived since)."""
    coach = user()
    moment = now()
    approved, problems = 0, []
    for raw in request.form.getlist("ids"):
        nudge_id = parse_id(raw)
        if nudge_id is None:
            continue
        try:
            with services().db.session() as db:
                nudge = db.get(Nudge, nudge_id)
                if nudge is None or not may_act(coach, nudge):
                    continue  # never say whether someone else's draft exists
                if nudge_rules.approve(db, nudge_rules.get_for(db, nudge.id, coach), coach,
                                       moment) is None:
                    problems.append(f"#{nudge.id} expired (too late to send).")
                    continue
                approved += 1
        except nudge_rules.NudgeError as exc:
            problems.append(str(exc))
    if approved:
        flash(f"Approved {approved} draft{'s' if approved != 1 else ''}.", "ok")
    for problem in problems:
        flash(problem, "error")
    if not approved and not problems:
        flash("There was nothing to approve.", "ok")
    return back()


def init_app(app: Flask) -> None:
    """Register the home page, the queue actions and the dashboard's static files."""
    app.register_blueprint(assets)
    app.register_blueprint(bp)
