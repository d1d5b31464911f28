"""Escalations: see one, acknowledge it, add a note, resolve it (with who and when).

Rules:
- Only the veteran's own coach and staff open an escalation (an unknown
  number's: staff only). The page shows the words that raised it and a
  tap-to-call link to the number: here only, never by SMS. Every view is
  audited (`escalation.view`), like every action.
- Only staff resolve a crisis escalation; a coach acknowledges it and adds
  notes (bot/escalations.py decides).
"""

from __future__ import annotations

from flask import Flask, Response, flash, render_template, request
from sqlalchemy import select

from bot.dashboard.common import audit, back, blueprint, login_required, now, services, user
from bot.dashboard.queries import alert_words, escalation_or_404, names
from bot.domain import escalations as escalation_rules
from bot.models import Escalation, EscalationNote

bp = blueprint("escalations", __name__, url_prefix="/escalations")
MAX_NOTE = 2000


def _about(escalation: Escalation) -> str:
    """Name whom an escalation is about: the veteran's first name, else the number."""
    if escalation.participant is not None:
        return escalation.participant.first_name
    return str(escalation.phone or "an unknown number")


@bp.get("/<int:escalation_id>")
@login_required
def show(escalation_id: int) -> str:
    """Show an escalation with its notes and what was done, by whom and when."""
    with services().db.session() as db:  # the audit row: a short write of its own
        escalation = escalation_or_404(db, escalation_id, user(), lock=False)
        audit(db, "escalation.view", "escalation", escalation.id)  # every read (SPEC §13)
    with services().db.reading() as db:
        escalation = escalation_or_404(db, escalation_id, user(), lock=False)
        notes = list(db.scalars(select(EscalationNote)
                                .where(EscalationNote.escalation_id == escalation.id)
                                .order_by(EscalationNote.created_at, EscalationNote.id)))
        people = names(db, {escalation.acknowledged_by_id, escalation.resolved_by_id,
                            escalation.coach_id} | {n.author_id for n in notes})
        participant = escalation.participant
        words = alert_words(db, escalation)
    return render_template(
        "escalation.html", e=escalation, p=participant, notes=notes, people=people,
        max_note=MAX_NOTE, words=words,
        phone=participant.phone if participant is not None else escalation.phone,
        may_resolve=escalation_rules.can_resolve(user(), escalation))


@bp.post("/<int:escalation_id>/ack")
@login_required
def acknowledge(escalation_id: int) -> Response:
    """Acknowledge an escalation: the coach has it in hand."""
    with services().db.session() as db:
        escalation = escalation_or_404(db, escalation_id, user())
        done = escalation_rules.acknowledge(db, escalation, user(), now())
        first = _about(escalation)
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
        try:
            done = escalation_rules.resolve(db, escalation, user(), now())
        except escalation_rules.NotAllowed as refused:
            flash(str(refused), "error")
            return back("escalations.show", escalation_id=escalation_id)
        first = _about(escalation)
    flash(f"Resolved the alert about {first}." if done else "It was already resolved.", "ok")
    return back("escalations.show", escalation_id=escalation_id)


def init_app(app: Flask) -> None:
    """Register the escalation pages."""
    app.register_blueprint(bp)
