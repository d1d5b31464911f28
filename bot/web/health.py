"""GET /healthz: database and scheduler state as JSON.

Rules:
- Always 200 (SPEC §4), with `"status": "error"` and the reason when the
  database does not answer: a web node still takes texts then (bot/inbound/spool.py),
  so a load balancer must not take every node out during a database outage,
  nor because the scheduler is late. Monitoring alerts on `status`.
- The scheduler writes SchedulerState rows: `scheduler` for the process as a
  whole and one row per job. A row older than three intervals (at least two
  minutes) is `stale`, and the top-level status becomes `degraded`.
- `spool` counts texts this node spooled while the database was down. They
  are replayed by the next text; any left while the database answers make
  the status `degraded`.
- `spool_failures` counts texts this process could neither store nor spool
  (and partial spool files it removed): any makes the status `degraded` (or
  stays `error` while the database is down), until the process restarts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import select, text

from bot.inbound.spool import counters, spooled_count
from bot.models import SchedulerState

bp = Blueprint("health", __name__)
OVERALL = "scheduler"


def _describe(state: SchedulerState, now: datetime, stale_after: float) -> dict[str, Any]:
    if state.last_pass_at is None:
        return {"state": "never-ran"}
    age = (now - state.last_pass_at).total_seconds()
    return {
        "state": "ok" if age <= stale_after else "stale",
        "last_pass_at": state.last_pass_at.isoformat(),
        "age_seconds": round(age, 1),
        "duration_ms": state.last_duration_ms,
        "holder": state.holder,
    }


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Report whether the database answers and when the scheduler and each job last ran."""
    services = current_app.extensions["peerline"]
    now = services.clock.now()
    failures = counters(services)
    body: dict[str, object] = {"status": "ok", "spool": spooled_count(services),
                               "spool_failures": failures}
    try:
        with services.db.session() as session:
            session.execute(text("SELECT 1"))
            states = list(session.scalars(select(SchedulerState).order_by(SchedulerState.name)))
        body["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - report any database failure, never crash
        body.update(status="error", database=f"error: {type(exc).__name__}")
        return jsonify(body), 200
    stale_after = max(3 * services.config.scheduler.interval_seconds, 120)
    described = {s.name.removeprefix("job:"): _describe(s, now, stale_after) for s in states}
    overall = described.pop(OVERALL, None)
    if overall is None and described:
        newest = max((s for s in states if s.last_pass_at), key=lambda s: s.last_pass_at,
                     default=None)
        overall = _describe(newest, now, stale_after) if newest else {"state": "never-ran"}
    scheduler: dict[str, Any] = dict(overall or {"state": "never-ran"})
    scheduler["jobs"] = described
    body["scheduler"] = scheduler
    if scheduler["state"] == "stale" or any(j["state"] == "stale" for j in described.values()) \
            or body["spool"] or failures["spool_write_failures"]:
        body["status"] = "degraded"
    return jsonify(body), 200


def init_app(app: Flask) -> None:
    """Register the health endpoint."""
    app.register_blueprint(bp)
