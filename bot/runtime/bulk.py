"""Start one flow for many participants at once (the check-in job): plan in memory, write in bulk.

Rules: start_flows_bulk makes, for each participant, the decision start_flow
makes (it calls bot.runtime.apply.start_flow with a StartBatch) and writes the same
rows; only the writing differs: the planned runs in one INSERT, their texts
with queue_messages_bulk (queued, due after the participant's quiet hours).
A start that does more than text and end is written one by one, as without a
batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from bot.core.db import insert_many
from bot.core.durations import quiet_hours_end
from bot.flows import actions as act
from bot.flows.engine import Outcome, Start, advance
from bot.flows.model import Flow
from bot.models import Participant, Run
from bot.outbox.queue import QueuedText, queue_messages_bulk
from bot.runtime import apply as runtime
from bot.runtime.apply import end_run, ended_as, flow_text, new_run, set_state
from bot.runtime.context import context_for
from bot.services import Services

log = logging.getLogger(__name__)

_BULK_ACTIONS = (act.Send, act.EndRun)


class StartBatch:
    """Starts collected by start_flow(..., batch=...) and written in bulk by write().

    Made for the participants `participant_ids` (their active runs are read in
    one query). A start whose actions only text and end is planned here: the
    engine runs at once, in memory; write() stores every planned run with one
    INSERT and their texts with queue_messages_bulk (queued, due after quiet
    hours). Anything else (a coach notice, an escalation, a draft, an answer,
    a handover, a participant not in `participant_ids`) start_flow writes
    itself, as without a batch.
    """

    def __init__(self, session: Session, services: Services, now: datetime,
                 participant_ids: Iterable[int]):
        self.session, self.services, self.now = session, services, now
        self.ids = set(participant_ids)
        self.active: dict[int, list[Run]] = {}
        if self.ids:
            for run in session.scalars(select(Run).where(Run.participant_id.in_(self.ids),
                                                         Run.status == "active")
                                       .order_by(Run.id)):
                self.active.setdefault(run.participant_id, []).append(run)
        self.planned: list[tuple[Participant, Flow, Run, Outcome]] = []

    def current(self, participant_id: int) -> Run | None:
        """Return the participant's newest active run (as active_run)."""
        runs = self.active.get(participant_id)
        return runs[-1] if runs else None

    def plan(self, participant: Participant, flow: Flow, trigger: str) -> Run | None:
        """Plan the start (ending the active runs); None if it must be written one by one."""
        if participant.id not in self.ids:
            return None
        now = self.now
        context = context_for(self.services, participant, flow=flow)
        outcome = advance(flow, None, Start(trigger), now, context)
        if not all(isinstance(action, _BULK_ACTIONS) for action in outcome.actions):
            return None
        for old in self.active.pop(participant.id, []):
            end_run(old, now)
        run = new_run(participant.id, flow, trigger, now)
        if outcome.handled:
            for action in outcome.actions:
                if isinstance(action, act.EndRun):
                    end_run(run, now, ended_as(action))
            if outcome.state is not None:
                set_state(run, outcome.state, now)
        self.planned.append((participant, flow, run, outcome))
        return run

    def write(self) -> None:
        """Write the planned runs and queue their texts; the returned runs get their ids."""
        planned, self.planned = self.planned, []
        self.session.flush()  # the ended runs
        if not planned:
            return
        columns = [c.key for c in cast(Table, Run.__table__).columns if c.key != "id"]
        ids = insert_many(self.session, Run, [{key: getattr(run, key) for key in columns}
                                              for _, _, run, _ in planned])
        quiet = self.services.config.program.quiet_hours
        due: dict[str, datetime] = {}
        texts: list[QueuedText] = []
        for (participant, flow, run, outcome), run_id in zip(planned, ids, strict=True):
            run.id = run_id
            for error in outcome.errors:
                log.warning("run %s (%s): %s", run_id, flow.id, error)
            if not outcome.handled:
                continue
            zone = participant.timezone
            if zone not in due:
                due[zone] = quiet_hours_end(quiet, self.now, zone)
            texts.extend(flow_text(self.services, participant, flow, run_id, action, self.now,
                                    due[zone])
                         for action in outcome.actions if isinstance(action, act.Send))
        queue_messages_bulk(self.session, texts)


def start_flows_bulk(
    session: Session, services: Services, participants: Iterable[Participant], flow_id: str,
    now: datetime, trigger: str = "schedule",
) -> list[int]:
    """Start `flow_id` for many participants as start_flow (one StartBatch); return who started."""
    people = list(participants)
    batch = StartBatch(session, services, now, [p.id for p in people])
    started = [p.id for p in people
               if runtime.start_flow(session, services, p, flow_id, now, trigger,
                                     batch=batch) is not None]
    batch.write()
    return started
