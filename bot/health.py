"""GET /healthz: database and scheduler state as JSON."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import select, text

from bot.models import SchedulerState

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """Report whether the database answers and when the scheduler last ran."""
    services = current_app.extensions["peerline"]
    now = services.clock.now()
    body: dict[str, object] = {"status": "ok"}
    try:
        with services.db.session() as session:
            session.execute(text("SELECT 1"))
            state = session.scalar(select(SchedulerState).where(SchedulerState.name == "scheduler"))
        body["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - report any database failure, never crash
        body.update(status="error", database=f"error: {type(exc).__name__}")
        return jsonify(body), 503
    if state is None or state.last_pass_at is None:
        body["scheduler"] = {"state": "never-ran"}
    else:
        age = (now - state.last_pass_at).total_seconds()
        interval = services.config.scheduler.interval_seconds
        body["scheduler"] = {
            "state": "ok" if age <= max(3 * interval, 120) else "stale",
            "last_pass_at": state.last_pass_at.isoformat(),
            "age_seconds": round(age, 1),
            "holder": state.holder,
        }
    return jsonify(body), 200


def init_app(app: Flask) -> None:
    """Register the health endpoint."""
    app.register_blueprint(bp)
