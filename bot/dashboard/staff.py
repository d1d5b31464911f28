"""Staff pages: everyone, enrolment, pause/resume/reassign, flows, exports, audit, failed sends."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.core.ids import parse_id
from bot.dashboard.audit_words import sentences
from bot.dashboard.common import (
    audit,
    back,
    blueprint,
    now,
    safe_next,
    services,
    staff_required,
    user,
)
from bot.dashboard.exports import download
from bot.dashboard.paging import PAGE_SIZE, counted, matching, page_arg, search_arg, sliced
from bot.dashboard.queries import names
from bot.domain.export import KINDS
from bot.domain.nudges import NudgeStatus
from bot.domain.people import EnrolmentError, add_participant
from bot.domain.program_arc import Status, program_length
from bot.flows.program_files import check as check_program_files
from bot.models import AuditLog, Coach, Escalation, Message, Nudge, Outbox, Participant
from bot.outbox.delivery import OutboxState
from bot.runtime.apply import on_enrolled

log = logging.getLogger(__name__)
bp = blueprint("staff", __name__, url_prefix="/staff")
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
         "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "America/Puerto_Rico",
         "Pacific/Guam")


def _coaches(db: Session) -> list[Coach]:
    return list(db.scalars(select(Coach).where(Coach.role == "coach", Coach.active)
                           .order_by(Coach.name)))


@bp.get("/")
@staff_required
def overview() -> str:
    """List veterans (a page at a time, or a search) and coaches, with pause and resume."""
    q = search_arg()
    page, people_page = page_arg(), page_arg("people")
    with services().db.reading() as db:
        wanted = select(Participant)
        found = matching(q)
        if found is not None:
            wanted = wanted.where(found)
        total = int(db.scalar(select(func.count()).select_from(wanted.subquery())) or 0)
        pager = counted("page", page, total)
        veterans = list(db.scalars(wanted.order_by(Participant.name, Participant.id)
                                   .offset(pager.offset).limit(PAGE_SIZE)))
        people_total = int(db.scalar(select(func.count(Coach.id))) or 0)
        people_pager = counted("people", people_page, people_total)
        staff = list(db.scalars(select(Coach).order_by(Coach.role, Coach.name, Coach.id)
                                .offset(people_pager.offset).limit(PAGE_SIZE)))
        counts = dict(db.execute(select(Participant.coach_id, func.count(Participant.id))
                                 .where(Participant.coach_id.in_([c.id for c in staff]))
                                 .group_by(Participant.coach_id)).all())
        coach_names = names(db, {p.coach_id for p in veterans})
    return render_template("staff/overview.html", people=staff, counts=counts,
                           veterans=veterans, coach_names=coach_names, pager=pager,
                           people_pager=people_pager, q=q, now_time=now())


@bp.route("/veterans/new", methods=["GET", "POST"])
@staff_required
def add_veteran() -> Response | str:
    """Enrol a veteran with a coach."""
    form = {k: request.form.get(k, "").strip() for k in ("name", "phone", "coach", "timezone")}
    error = None
    if request.method == "POST":
        moment = now()
        try:
            with services().db.session() as db:
                coach = db.get(Coach, parse_id(form["coach"])) if parse_id(form["coach"]) else None
                if coach is None or coach.role != "coach":
                    raise EnrolmentError("choose the veteran's coach")
                participant = add_participant(
                    db, phone=form["phone"], name=form["name"], coach=coach,
                    timezone=form["timezone"] or services().config.program.timezone,
                    now=moment, actor=f"web:coach:{user().id}",
                    length=program_length(services().config),
                    consent_version=services().config.program.consent_version)
                audit(db, "participant.enrol", "participant", participant.id, coach_id=coach.id)

                on_enrolled(db, services(), participant, moment)
                pid, first = participant.id, participant.first_name
        except EnrolmentError as exc:
            error = str(exc)
        else:
            flash(f"Enrolled {first} (P{pid}).", "ok")
            return redirect(url_for("veterans.show", participant_id=pid))  # type: ignore[return-value]
    with services().db.reading() as db:
        coaches = _coaches(db)
    body = render_template("staff/add_veteran.html", form=form, error=error, coaches=coaches,
                           zones=ZONES, default_zone=services().config.program.timezone)
    return Response(body, status=400 if error else 200)


def _participant(db: Session, participant_id: int) -> Participant:
    participant = db.get(Participant, participant_id, with_for_update=True)
    if participant is None:
        abort(404)
    return participant


@bp.post("/veterans/<int:participant_id>/pause")
@staff_required
def pause(participant_id: int) -> Response:
    """Pause a veteran's program (no check-ins or drafts) until resumed."""
    with services().db.session() as db:
        participant = _participant(db, participant_id)
        if participant.status != Status.ACTIVE:
            flash(f"{participant.first_name} is not active, so there is nothing to pause.",
                  "error")
        else:
            participant.status = Status.PAUSED
            audit(db, "participant.pause", "participant", participant.id)
            flash(f"Paused {participant.first_name}'s program.", "ok")
    return back("staff.overview")


@bp.post("/veterans/<int:participant_id>/resume")
@staff_required
def resume(participant_id: int) -> Response:
    """Resume a paused veteran's program."""
    with services().db.session() as db:
        participant = _participant(db, participant_id)
        if participant.status != Status.PAUSED:
            flash(f"{participant.first_name} is not paused.", "error")
        else:
            participant.status = Status.ACTIVE
            audit(db, "participant.resume", "participant", participant.id)
            flash(f"Resumed {participant.first_name}'s program.", "ok")
    return back("staff.overview")


@bp.get("/veterans/<int:participant_id>/reassign")
@staff_required
def reassign_form(participant_id: int) -> str:
    """Show the form that gives one veteran to another coach."""
    with services().db.reading() as db:
        participant = db.get(Participant, participant_id)
        if participant is None:
            abort(404)
        coaches = _coaches(db)
        caseload = dict(db.execute(select(Participant.coach_id, func.count(Participant.id))
                                   .group_by(Participant.coach_id)).all())
        current = names(db, {participant.coach_id}).get(participant.coach_id, "?")
    return render_template("staff/reassign.html", p=participant, coaches=coaches,
                           caseload=caseload, current=current,
                           next=safe_next(request.args.get("next"), "staff.overview"))


@bp.post("/veterans/<int:participant_id>/reassign")
@staff_required
def reassign(participant_id: int) -> Response:
    """Give a veteran (with their pending drafts and open escalations) to another coach."""
    raw = request.form.get("coach", "")
    with services().db.session() as db:
        participant = _participant(db, participant_id)
        coach = db.get(Coach, parse_id(raw)) if parse_id(raw) else None
        if coach is None or coach.role != "coach" or not coach.active:
            flash("Choose an active coach.", "error")
        elif coach.id == participant.coach_id:
            flash(f"{participant.first_name} is already with {coach.name}.", "ok")
        else:
            before = participant.coach_id
            participant.coach_id = coach.id
            db.execute(update(Nudge).where(Nudge.participant_id == participant.id,
                                           Nudge.status == NudgeStatus.PENDING)
                       .values(coach_id=coach.id))
            db.execute(update(Escalation).where(Escalation.participant_id == participant.id,
                                                Escalation.resolved_at.is_(None))
                       .values(coach_id=coach.id))
            audit(db, "participant.reassign", "participant", participant.id,
                  from_coach=before, to_coach=coach.id)
            flash(f"{participant.first_name} is now with {coach.name}.", "ok")
    return back("staff.overview")


def _file_of(problem: str) -> str:
    return Path(problem.split(":", 1)[0]).name


def flow_report() -> dict[str, Any]:
    """Describe each flows/*.yaml: what runs (id, version) and its FILE:LINE problems."""
    store = services().flows
    if store is None:
        return {"loaded": False, "files": []}
    folder = Path(store.folder)
    problems = [str(p) for p in store.errors]
    try:
        problems += check_program_files(folder)
    except Exception:  # noqa: BLE001 - the page must show even if a checker breaks
        log.warning("program file check failed", exc_info=True)
    running = {Path(flow.path).name: flow for flow in store.flows()}
    names = sorted({p.name for p in folder.glob("*.yaml")} | {_file_of(p) for p in problems})
    files = []
    for name in names:
        errors = [p for p in problems if _file_of(p) == name]
        flow = running.get(name)
        note = ""
        if flow is not None:
            note = (f"Running: {flow.name or flow.id} ({flow.id}), version {flow.version[:12]} "
                    "(a fingerprint of the file's contents: it changes with every saved edit; "
                    "a conversation finishes on the version it started)")
            if errors:
                note += ". The last edit was refused; this earlier valid version keeps running."
        elif errors:
            note = "Not running: no valid version has been loaded."
        files.append({"name": name, "version": flow.version[:12] if flow else "",
                      "valid": not errors, "errors": errors, "running": note})
    return {"loaded": True, "files": files}


@bp.get("/flows")
@staff_required
def flows() -> str:
    """Show flow files with their validation state and version (read-only)."""
    return render_template("staff/flows.html", report=flow_report(),
                           flows_dir=services().config.flows.dir)


@bp.get("/exports")
@staff_required
def exports() -> str:
    """Offer the research exports (participant ids, never phone numbers)."""
    return render_template("staff/exports.html", kinds=KINDS)


@bp.post("/exports/<kind>")
@staff_required
def export(kind: str) -> Response:
    """Download one research export as CSV, streamed as it is read (audit-logged)."""
    if kind not in KINDS:
        abort(404)
    return download(kind)


@bp.get("/audit")
@staff_required
def audit_log() -> str:
    """Show the audit log, newest first, a page at a time."""
    page = page_arg()
    with services().db.reading() as db:
        entries = list(db.scalars(select(AuditLog).order_by(AuditLog.id.desc())
                                  .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
        entries, pager = sliced("page", page, entries)
        said = sentences(db, entries)
    return render_template("staff/audit.html", entries=said, pager=pager)


@bp.get("/failed")
@staff_required
def failed() -> str:
    """Show sends that failed for good, with the last error, a page at a time."""
    page = page_arg()
    with services().db.reading() as db:
        rows = list(db.execute(
            select(Outbox, Message).join(Message, Message.id == Outbox.message_id)
            .where(Outbox.state == OutboxState.FAILED).order_by(Outbox.id.desc())
            .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all())
        rows, pager = sliced("page", page, rows)
        wanted = {m.participant_id for _, m in rows if m.participant_id}
        people = ({p.id: p for p in db.scalars(select(Participant).where(
            Participant.id.in_(wanted)))} if wanted else {})
    return render_template("staff/failed.html", rows=rows, people=people, pager=pager)


def init_app(app: Flask) -> None:
    """Register the staff pages."""
    app.register_blueprint(bp)
