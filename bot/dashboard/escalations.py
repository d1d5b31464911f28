"""Escalations: see one, acknowledge it, add a note, resolve it (with who and when)."""

from __future__ import annotations

from flask import Flask, Response, flash, render_template, request
from sqlalchemy import select

from bot import escalations as escalation_rules
from bot.dashboard.common import audit, back, blueprint, login_required, now, services, user
from bot.dashboard.queries import escalation_or_404, names
from bot.models import EscalationNote, Message

bp = blueprint("escalations", __name__, url_prefix="/escalations")
MAX_NOTE = 2000


@bp.get("/<int:escalation_id>")
@login_required
def show(escalation_id: int) -> str:
    """Show an escalation with its notes and what was done, by whom and when."""
    with services().db.session() as db:
        escalation = escalation_or_404(db, escalation_id, user())
        notes = list(db.scalars(select(EscalationNote)
                                .where(EscalationNote.escalation_id == escalation.id)
                                .order_by(EscalationNote.created_at, EscalationNote.id)))
        people = names(db, {escalation.acknowledged_by_id, escalation.resolved_by_id,
                            escalation.coach_id} | {n.author_id for n in notes})
        said = db.get(Message, escalation.message_id) if escalation.message_id else None
        return render_template("escalation.html", e=escalation, p=escalation.participant,
                               notes=notes, people=people, max_note=MAX_NOTE,
                               words=said.body if said is not None else None,
                               own=escalation.participant.coach_id == user().id)


@bp.post("/<int:escalation_id>/ack")
@login_required
def acknowledge(escalation_id: int) -> Response:
    """Acknowledge an escalation: the coach has it in hand."""
    with services().db.session() as db:
        escalation = escalation_or_404(db, escalation_id, user())
        done = escalation_rules.acknowledge(db, escalation, user(), now())
        first = escalation.participant.first_name
    flash(f"Acknowledged the alert about {first}." if done else "It was already acknowledged.",
          "ok")
    return back("escalations.show", escalation_id=escalation_id)


@bp.post("/<int:escalation_id>/note")
@login_required
def note(escalation_id: int) -> Response:
    """Add a note to an escalation."""
    body = request.form.get("body", "").strip()
    with services().db.session() as db:
        escalation = escalation_or_404(db, escalation_id, user())
        if not body:
            flash("Write the note first.", "error")
        elif len(body) > MAX_NOTE:
            flash(f"Notes are limited to {MAX_NOTE} characters.", "error")
        else:
            db.add(EscalationNote(escalation_id=escalation.id, author_id=user().id, body=body,
                                  created_at=now()))
            audit(db, "escalation.note", "escalation", escalation.id)
            flash("Note added.", "ok")
    return back("escalations.show", escalation_id=escalation_id)


@bp.post("/<int:escalation_id>/resolve")
@login_required
def resolve(escalation_id: int) -> Response:
    """Resolve an escalation (acknowledging it too if nobody had)."""
    with services().db.session() as db:
        escalation = escalation_or_404(db, escalation_id, user())
        done = escalation_rules.resolve(db, escalation, user(), now())
        first = escalation.participant.first_name
    flash(f"Resolved the alert about {first}." if done else "It was already resolved.", "ok")
    return back("escalations.show", escalation_id=escalation_id)


def init_app(app: Flask) -> None:
    """Register the escalation pages."""
    app.register_blueprint(bp)
