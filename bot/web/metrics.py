"""GET /metrics: Prometheus text exposition computed from a few aggregate queries.

Rules:
- Every figure comes from the database, so all web nodes report the same
  numbers and nothing is lost when a worker restarts.
- Only aggregates: counts grouped by a low-cardinality column, one MIN over an
  indexed column, and the scheduler's own state rows. No phone numbers, no
  bodies, no per-participant labels.
- Exception: the spool counters (`peerline_spool_*_total`) are this
  process's own, since they count what happened when the database could not
  be written; they start at 0 when the process starts (sum them over nodes).
- A database failure answers 200 with `peerline_database_up 0` and this
  node's spool count (Prometheus drops the samples of a non-2xx scrape, so
  an alert on `peerline_database_up == 0` needs a 200), never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from flask import Blueprint, Flask, Response, current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.domain.nudges import WAITING
from bot.inbound.spool import counters, spooled_count
from bot.models import Escalation, Message, Nudge, Outbox, Participant, SchedulerState
from bot.outbox.delivery import OutboxState
from bot.services import Services

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WAITING_STATES = (OutboxState.PENDING, OutboxState.CLAIMED, OutboxState.HELD)
GAVE_UP = (OutboxState.FAILED, OutboxState.EXPIRED)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Exposition:
    """Collect metric families and render them in the Prometheus text format."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[dict[str, str], float]]) -> None:
        """Add one metric family with its HELP and TYPE lines and its samples."""
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            rendered = ",".join(f'{key}="{_escape(val)}"' for key, val in sorted(labels.items()))
            self.lines.append(f"{name}{{{rendered}}} {value:g}" if rendered
                              else f"{name} {value:g}")

    def render(self) -> str:
        """Return the exposition text."""
        return "\n".join(self.lines) + "\n"


def _grouped(session: Session, column: object, *where: object) -> list[tuple[str, int]]:
    stmt = select(column, func.count()).group_by(column)  # type: ignore[call-overload]
    if where:
        stmt = stmt.where(*where)
    return [(str(key), int(count)) for key, count in session.execute(stmt)]


def collect(session: Session, now: datetime) -> Exposition:
    """Run the aggregate queries and return the metric families."""
    out = Exposition()
    out.family("peerline_database_up", "gauge", "1 when the database answered this scrape.",
               [({}, 1)])
    # One pass over messages (the only table that grows large): ~0.1 s per million rows.
    inbound: dict[str, int] = {}
    outbound: dict[str, int] = {}
    for direction, kind, status, count in session.execute(
            select(Message.direction, Message.kind, Message.status, func.count())
            .group_by(Message.direction, Message.kind, Message.status)):
        if direction == "in":
            inbound[str(kind)] = inbound.get(str(kind), 0) + int(count)
        else:
            outbound[str(status)] = outbound.get(str(status), 0) + int(count)
    out.family("peerline_messages_in_total", "counter", "Inbound SMS stored, by sender kind.",
               [({"kind": kind}, count) for kind, count in sorted(inbound.items())])
    out.family("peerline_messages_out_total", "counter",
               "Outbound SMS stored (TwiML replies and outbox sends), by status.",
               [({"status": status}, count) for status, count in sorted(outbound.items())])
    failed = dict(_grouped(session, Outbox.state, Outbox.state.in_(GAVE_UP)))
    out.family("peerline_send_failures_total", "counter",
               "Outbox sends that finally failed (state failed) or expired unsent.",
               [({"state": state}, failed.get(state, 0)) for state in GAVE_UP])
    out.family("peerline_send_attempts_retried_total", "counter",
               "Extra attempts made by the sender beyond the first, over all outbox rows.",
               [({}, int(session.scalar(
                   select(func.coalesce(func.sum(Outbox.attempts - 1), 0))
                   .where(Outbox.attempts > 1)) or 0))])
    depth = dict(_grouped(session, Outbox.state, Outbox.state.in_(WAITING_STATES)))
    out.family("peerline_outbox_depth", "gauge", "Outbox rows not yet finished, by state.",
               [({"state": state}, depth.get(state, 0)) for state in WAITING_STATES])
    oldest = session.scalar(
        select(func.min(Outbox.due_at)).where(Outbox.state == OutboxState.PENDING,
                                              Outbox.due_at <= now))
    out.family("peerline_outbox_oldest_due_age_seconds", "gauge",
               "Seconds since the oldest pending, already-due outbox row fell due (0 if none).",
               [({}, max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)])
    open_escalations = _grouped(session, Escalation.urgent, Escalation.acknowledged_at.is_(None),
                                Escalation.resolved_at.is_(None))
    counts = {key.lower() in ("true", "1"): count for key, count in open_escalations}
    out.family("peerline_escalations_open", "gauge", "Escalations nobody acknowledged yet.",
               [({"urgent": "true"}, counts.get(True, 0)),
                ({"urgent": "false"}, counts.get(False, 0))])
    out.family("peerline_nudges", "gauge", "Nudge drafts by status.",
               [({"status": status}, count) for status, count in
                _grouped(session, Nudge.status, Nudge.status.in_(WAITING))])
    out.family("peerline_participants", "gauge", "Participants by status.",
               [({"status": status}, count) for status, count in
                _grouped(session, Participant.status)])
    states = list(session.scalars(select(SchedulerState).order_by(SchedulerState.name)))
    out.family("peerline_scheduler_pass_duration_seconds", "gauge",
               "Duration of the last pass of each scheduler job.",
               [({"job": s.name.removeprefix("job:")}, s.last_duration_ms / 1000) for s in states
                if s.last_duration_ms is not None])
    out.family("peerline_scheduler_last_pass_age_seconds", "gauge",
               "Seconds since each scheduler job last finished a pass.",
               [({"job": s.name.removeprefix("job:")},
                 max(0.0, (now - s.last_pass_at).total_seconds()))
                for s in states if s.last_pass_at is not None])
    return out


@bp.get("/metrics")
def metrics() -> Response:
    """Answer Prometheus' scrape with PeerLine's counters and gauges."""
    services = current_app.extensions["peerline"]
    now = services.clock.now()
    try:
        with services.db.session() as session:
            out = collect(session, now)
    except Exception as exc:  # noqa: BLE001 - a scrape must never crash the worker
        log.warning("metrics: database unavailable (%s)", type(exc).__name__)
        down = Exposition()
        down.family("peerline_database_up", "gauge", "1 when the database answered this scrape.",
                    [({}, 0)])
        _spool_family(down, services)
        return Response(down.render(), content_type=CONTENT_TYPE)
    _spool_family(out, services)
    return Response(out.render(), content_type=CONTENT_TYPE)


def _spool_family(out: Exposition, services: Services) -> None:
    out.family("peerline_spool_texts", "gauge",
               "Texts this node spooled while the database was down, not yet replayed.",
               [({}, spooled_count(services))])
    found = counters(services)
    for name, help_text in (
            ("spool_write_failures", "Texts neither the database nor the spool could keep "
                                     "(disk full, read-only or failing), in this process."),
            ("partial_files_removed", "Partial spool files left by failed or killed writes, "
                                      "removed by this process."),
            ("direct_alert_failures", "Direct staff texts that failed while the database was "
                                      "down, in this process.")):
        out.family(f"peerline_{name}_total", "counter", help_text, [({}, found[name])])


def init_app(app: Flask) -> None:
    """Register the /metrics endpoint."""
    app.register_blueprint(bp)
