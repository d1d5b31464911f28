"""Staff record a veteran's withdrawal: texts stop, the reason is kept, exports flag it."""

from __future__ import annotations

from flask import Flask, Response, flash, redirect, request, url_for

from bot.dashboard.common import blueprint, error_page, now, services, staff_required, user
from bot.inbound.consent import WithdrawalError, withdraw

bp = blueprint("withdrawal", __name__, url_prefix="/staff")


@bp.post("/veterans/<int:participant_id>/withdraw")
@staff_required
def withdraw_veteran(participant_id: int) -> Response:
    """Withdraw a veteran from the program (staff only; a reason is required)."""
    staff = user()
    try:
        with services().db.session() as db:
            participant = withdraw(db, participant_id, reason=request.form.get("reason", ""),
                                   actor=f"web:coach:{staff.id}", actor_id=staff.id, now=now())
            first = participant.first_name
    except WithdrawalError as exc:
        if str(exc).startswith("there is no participant"):
            return error_page(404, "That veteran does not exist.")
        return error_page(400, f"Not recorded: {exc}.")
    flash(f"Recorded: {first} withdrew. PeerLine sends them nothing more.", "ok")
    return redirect(url_for("veterans.show", participant_id=participant_id))  # type: ignore[return-value]


def init_app(app: Flask) -> None:
    """Register the withdrawal action."""
    app.register_blueprint(bp)
