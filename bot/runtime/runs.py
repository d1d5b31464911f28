"""Runs as plain rows: read with Core, changed in memory, written by bot/runtime/writer.py.

Rules:
- A `RunRow` holds every column of `runs`; a new one has no id until the
  writer inserts it. The engine's `RunState` is read from it and stored back
  into it (`state_of`, `set_state`); nothing here touches the ORM.
- A participant's active runs are read in one query for a whole batch
  (`active_runs`); the newest is the one a reply or a start looks at.
- A run finishes on the flow version it started (`flow_of`); after a restart
  that lost the version, the current one continues it if it has the step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from bot.flows import actions as act
from bot.flows.engine import RunState
from bot.flows.model import Flow
from bot.models import Run
from bot.runtime.states import RunStatus
from bot.services import Services

log = logging.getLogger(__name__)
RUNS = cast(Table, Run.__table__)


@dataclass(eq=False)
class RunRow:
    """One `runs` row in memory (the same column names as bot.models.Run)."""

    participant_id: int
    flow_id: str
    flow_version: str
    started_at: datetime
    updated_at: datetime
    status: str = RunStatus.ACTIVE
    step: str | None = None
    waiting: bool = False
    variables: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    wait_token: str | None = None
    asked_at: datetime | None = None
    timeout_at: datetime | None = None
    expires_at: datetime | None = None
    trigger: str = "keyword"
    ended_at: datetime | None = None
    id: int | None = None

    def values(self) -> dict[str, Any]:
        """Return the row's columns except `id` (for INSERT and UPDATE)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "id"}


def run_from(mapping: Any) -> RunRow:
    """Return a RunRow from a row's columns (keyed by column name)."""
    values = dict(mapping)
    values["variables"] = dict(values.get("variables") or {})
    return RunRow(**values)


def active_runs(session: Session, participant_ids: Iterable[int]) -> dict[int, list[RunRow]]:
    """Return each participant's active runs, oldest first (one query)."""
    ids = sorted(set(participant_ids))
    found: dict[int, list[RunRow]] = {}
    if not ids:
        return found
    for mapping in session.execute(select(RUNS).where(RUNS.c.participant_id.in_(ids),
                                                      RUNS.c.status == RunStatus.ACTIVE)
                                   .order_by(RUNS.c.id)).mappings():
        run = run_from(mapping)
        found.setdefault(run.participant_id, []).append(run)
    return found


def runs_by_id(session: Session, run_ids: Iterable[int]) -> dict[int, RunRow]:
    """Return the active runs among `run_ids`, locked for this transaction (one query)."""
    ids = sorted(set(run_ids))
    if not ids:
        return {}
    rows = session.execute(select(RUNS).where(RUNS.c.id.in_(ids), RUNS.c.status == RunStatus.ACTIVE)
                           .with_for_update()).mappings()
    return {run.id: run for run in map(run_from, rows) if run.id is not None}


def new_run(participant_id: int, flow: Flow, trigger: str, now: datetime) -> RunRow:
    """Return a new active run of `flow` at its start step (not yet written)."""
    return RunRow(participant_id=participant_id, flow_id=flow.id, flow_version=flow.version,
                  step=flow.start, trigger=trigger[:20], started_at=now, updated_at=now)


def state_of(run: RunRow) -> RunState:
    """Return the engine's view of the run."""
    return RunState(flow_id=run.flow_id, flow_version=run.flow_version, step=run.step,
                    waiting=run.waiting, variables=dict(run.variables or {}),
                    retries=run.retries, wait_token=run.wait_token, asked_at=run.asked_at,
                    timeout_at=run.timeout_at, expires_at=run.expires_at)


def set_state(run: RunRow, new: RunState, now: datetime) -> None:
    """Store the engine's new state on the run."""
    run.step, run.waiting, run.retries = new.step, new.waiting, new.retries
    run.variables = dict(new.variables)
    run.wait_token, run.asked_at = new.wait_token, new.asked_at
    run.timeout_at, run.expires_at = new.timeout_at, new.expires_at
    run.updated_at = now


def end_run(run: RunRow, now: datetime, status: str = RunStatus.ENDED) -> None:
    """Mark the run over (`ended` or `expired`); nothing waits on it any more."""
    run.status = status
    run.waiting = False
    run.timeout_at = None
    run.expires_at = None
    run.ended_at = now
    run.updated_at = now


def ended_as(action: act.EndRun) -> str:
    """Return the status a run ends with."""
    return RunStatus.EXPIRED if action.reason == "expired" else RunStatus.ENDED


def flow_of(services: Services, run: RunRow) -> Flow | None:
    """Return the version the run started on; after a restart, the current one if it fits."""
    store = services.flows
    if store is None:
        return None
    flow = store.version(run.flow_id, run.flow_version)
    if flow is None:
        current = store.get(run.flow_id)
        if current is not None and run.step in current.steps:
            log.warning("run %s: version %s is gone; continuing on %s", run.id,
                        run.flow_version, current.version)
            flow = current
    return flow


def due_timeouts(session: Session, now: datetime, limit: int = 500) -> list[tuple[int, str]]:
    """Return (run id, wait token) of waits whose timeout is due (uses ix_runs_status_timeout)."""
    rows = session.execute(select(Run.id, Run.wait_token)
                           .where(Run.status == RunStatus.ACTIVE, Run.timeout_at <= now)
                           .order_by(Run.timeout_at).limit(limit))
    return [(run_id, token or "") for run_id, token in rows]


def due_expiries(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Return the ids of active runs past `expires_at` (uses ix_runs_status_expires)."""
    return list(session.scalars(select(Run.id).where(Run.status == RunStatus.ACTIVE,
                                                     Run.expires_at <= now)
                                .order_by(Run.expires_at).limit(limit)))
