"""Apply the flow engine: jobs run the pure engine in memory, one Writer stores their rows.

Rules (SPEC §6.4-6.6, docs/architecture.md):
- Every job of a transaction goes through one `Batch`: a reply to the
  participant's own message (the webhook: a batch of one), a start (one, or
  the check-in job's many), a timeout, an expiry. Its rows reach the database
  only through bot/runtime/writer.py, when the caller (or the entry points
  below) calls `Batch.write()`.
- Routing of an ordinary message: the waiting step, else a trigger keyword,
  else the `fallback` flow. A reply the waiting step cannot read that is
  exactly another flow's keyword starts that flow instead of a re-ask.
- Replies to the participant's own message are returned (they travel in the
  TwiML; the pipeline records them). Texts outside a reply (starts, timeouts)
  are queued and wait for the end of the participant's quiet hours.
- Each action becomes rows in bot/runtime/actions.py (its header says how).
- A scheduled start skips a participant already in that flow; any start ends
  the participant's other active runs. A handover (`start_flow`) starts the
  target at most MAX_HANDOVERS deep. A run finishes on the flow version it
  started (`Run.flow_version`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from bot.domain.inbox import INBOX_ITEMS, pass_to_inbox
from bot.domain.program_arc import STARTABLE
from bot.flows.engine import Event, Expire, Message, Start, Timeout, advance
from bot.flows.keywords import normalize_keyword
from bot.flows.model import Flow
from bot.flows.replies import parse_reply
from bot.models import Message as StoredMessage  # engine Message = an inbound event
from bot.models import Participant
from bot.outbox.cancel import cancel_unsent
from bot.runtime.actions import collect
from bot.runtime.context import context_for, costly_facts, costly_reads
from bot.runtime.late_answers import late_answer_reply
from bot.runtime.runs import (
    RUNS,
    RunRow,
    active_runs,
    due_expiries,
    due_timeouts,
    end_run,
    flow_of,
    new_run,
    runs_by_id,
    set_state,
    state_of,
)
from bot.runtime.states import RunStatus
from bot.runtime.writer import Writer
from bot.services import Services

log = logging.getLogger(__name__)
MAX_HANDOVERS = 5


class Batch:
    """The engine jobs of one transaction; their rows are collected in one Writer."""

    def __init__(self, session: Session, services: Services, now: datetime):
        self.session, self.services, self.now = session, services, now
        self.writer = Writer(session, services, now)
        self.active: dict[int, list[RunRow]] = {}  # per participant, once read
        self.facts: dict[tuple[str, int], dict[str, Any]] = {}

    def write(self) -> None:
        """Store every row the jobs made (in the caller's transaction)."""
        self.writer.write()

    # -- the jobs -------------------------------------------------------------------------

    def start(self, participant: Participant, flow_id: str,
              trigger: str = "schedule") -> RunRow | None:
        """Start `flow_id` outside a reply (texts are queued); None if it does not start."""
        if self.services.flows is None or participant.status not in STARTABLE:
            return None
        flow = self.services.flows.get(flow_id)
        if flow is None:
            return None
        current = self.current(participant.id)
        if current is not None and current.flow_id == flow_id and trigger == "schedule":
            return None  # already in progress
        self.end_active(participant.id)
        return self.begin(participant, flow, trigger)

    def start_many(self, participants: Iterable[Participant], flow_id: str,
                   trigger: str = "schedule") -> list[int]:
        """Start `flow_id` for many participants (reads in one query each); return who started."""
        people = list(participants)
        self.load([p.id for p in people])
        flow = self.services.flows.get(flow_id) if self.services.flows is not None else None
        reads = costly_reads(flow, flow.start) if flow is not None else frozenset()
        if flow is not None and reads and people:
            for pid, found in costly_facts(self.session, self.services, [p.id for p in people],
                                           flow, reads).items():
                self.facts[(flow.id, pid)] = found
        return [p.id for p in people if self.start(p, flow_id, trigger) is not None]

    def reply(self, participant: Participant, message: Any) -> list[str]:
        """Answer an enrolled participant's ordinary message; return the reply texts."""
        store = self.services.flows
        if store is None:  # a tool's Services built without flows: there is nothing to run
            return []
        text, now = message.body or "", self.now
        run = self.current(participant.id)
        if run is not None and run.expires_at is not None and run.expires_at <= now:
            self._expire(participant, run)
            run = None
        keyword = normalize_keyword(text)
        keyword_flow = store.by_keyword(keyword) if keyword else None
        if run is not None and run.waiting:
            flow = flow_of(self.services, run)
            step = flow.steps.get(run.step or "") if flow is not None else None
            if flow is None or step is None or step.expect is None:
                self.finish(run, RunStatus.ENDED)
            elif keyword_flow is None or parse_reply(step.expect, text).ok:
                if isinstance(message, StoredMessage):  # exports: the question this answered
                    self.writer.set_message(message, flow_id=run.flow_id, step_id=run.step,
                                            run_id=run.id)
                replies: list[str] = []
                self.run_event(participant, flow, run, Message(text), replies=replies)
                return replies
        target, trigger = keyword_flow, "keyword"
        if target is None:
            self.writer.write()  # the late-answer check reads the runs as they are now
            late = late_answer_reply(self.session, self.services, participant, text, now,
                                     getattr(message, "id", None))
            if late is not None:
                return [late]  # before fallback: say how to restart, not the generic menu
        passed = None
        if target is None:  # the veteran's own words: to the coach's inbox (domain/inbox.py)
            passed = pass_to_inbox(self.session, participant, message, now)
            if passed is not None:
                self.writer.insert(INBOX_ITEMS, passed.item)
                notice = passed.notice
                if notice is not None:
                    self.writer.text(lambda: notice)
            if passed is not None and passed.in_conversation:
                return [passed.reply]
            target, trigger = store.get("fallback"), "fallback"
        told = [passed.reply] if passed is not None else []
        if target is None:
            return told
        self.end_active(participant.id)
        replies = []
        self.begin(participant, target, trigger, replies=replies)
        return told + replies

    def timeouts(self, due: Iterable[tuple[int, str]]) -> int:
        """Fire the timeouts of the waits (run id, wait token); stale tokens do nothing."""
        pairs = list(due)
        runs = runs_by_id(self.session, [run_id for run_id, _ in pairs])
        people = self._people(run.participant_id for run in runs.values())
        fired = 0
        for run_id, token in pairs:
            run = runs.get(run_id)
            participant = people.get(run.participant_id) if run is not None else None
            if run is None or participant is None or run.status != RunStatus.ACTIVE \
                    or not run.waiting or run.wait_token != token:
                continue
            flow = flow_of(self.services, run)
            if flow is None:
                self.finish(run, RunStatus.ENDED)
            elif self.run_event(participant, flow, run, Timeout(token)):
                fired += 1
            else:
                run.timeout_at = None  # nothing to fire (e.g. the new version has no timeout)
                self.writer.touch(run)
        return fired

    def expiries(self, run_ids: Iterable[int]) -> int:
        """End the runs whose `expires_at` has passed, quietly; return how many."""
        ids = list(run_ids)
        runs = runs_by_id(self.session, ids)
        people = self._people(run.participant_id for run in runs.values())
        expired = 0
        for run_id in ids:
            run = runs.get(run_id)
            participant = people.get(run.participant_id) if run is not None else None
            if run is None or participant is None or run.status != RunStatus.ACTIVE \
                    or run.expires_at is None or run.expires_at > self.now:
                continue
            self._expire(participant, run)
            expired += 1
        return expired

    # -- runs in memory -------------------------------------------------------------------

    def load(self, participant_ids: Iterable[int]) -> None:
        """Read the active runs of the participants not read yet (one query)."""
        missing = [pid for pid in set(participant_ids) if pid not in self.active]
        found = active_runs(self.session, missing)
        for pid in missing:
            self.active[pid] = found.get(pid, [])

    def current(self, participant_id: int) -> RunRow | None:
        """Return the participant's newest active run."""
        self.load([participant_id])
        runs = self.active[participant_id]
        return runs[-1] if runs else None

    def end_active(self, participant_id: int) -> None:
        """End every active run of the participant quietly."""
        self.load([participant_id])
        for run in list(self.active[participant_id]):
            self.finish(run, RunStatus.ENDED)

    def finish(self, run: RunRow, status: str) -> None:
        """End the run (`ended` or `expired`) and stop counting it as active."""
        end_run(run, self.now, status)
        self.writer.touch(run)
        runs = self.active.get(run.participant_id, [])
        if run in runs:
            runs.remove(run)

    def _people(self, ids: Iterable[int]) -> dict[int, Participant]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        return {p.id: p for p in self.session.scalars(
            select(Participant).where(Participant.id.in_(wanted))
            .options(selectinload(Participant.coach)))}

    def _expire(self, participant: Participant, run: RunRow) -> None:
        flow = flow_of(self.services, run)
        if flow is not None:
            self.run_event(participant, flow, run, Expire())
        if run.status == RunStatus.ACTIVE:
            self.finish(run, RunStatus.EXPIRED)

    # -- the engine -----------------------------------------------------------------------

    def begin(self, participant: Participant, flow: Flow, trigger: str, depth: int = 0,
              replies: list[str] | None = None) -> RunRow:
        """Start a new run of `flow` and apply its first steps."""
        run = new_run(participant.id, flow, trigger, self.now)
        self.writer.add_run(run)
        self.load([participant.id])
        self.active[participant.id].append(run)
        self.run_event(participant, flow, run, Start(trigger), depth, replies)
        return run

    def run_event(self, participant: Participant, flow: Flow, run: RunRow, event: Event,
                  depth: int = 0, replies: list[str] | None = None) -> bool:
        """Advance the run by `event` and apply the outcome; False if it did not apply."""
        starting = isinstance(event, Start)
        turn = "start" if starting else "timeout" if isinstance(event, Timeout) else "answer"
        key, reads = (flow.id, participant.id), costly_reads(flow, run.step, turn)
        if reads - set(self.facts.get(key, {})):  # read once per batch, only what the turn needs
            self.facts[key] = {**self.facts.get(key, {}), **costly_facts(
                self.session, self.services, [participant.id], flow, reads)[participant.id]}
        context = context_for(self.services, participant, flow=flow,
                              facts=self.facts.get(key, {}))
        state = None if starting else state_of(run)
        outcome = advance(flow, state, event, self.now, context)
        for error in outcome.errors:
            log.warning("run %s (%s): %s", run.id, flow.id, error)
        if not outcome.handled:
            return False
        handover: str | None = None
        for action in outcome.actions:
            handover = collect(self, participant, flow, run, action, replies) or handover
        if outcome.state is not None:
            set_state(run, outcome.state, self.now)
        self.writer.touch(run)
        if handover is not None:
            store = self.services.flows
            target = store.get(handover) if store is not None else None
            if target is None or depth >= MAX_HANDOVERS:
                log.warning("run %s: cannot hand over to %r", run.id, handover)
            else:
                self.begin(participant, target, "flow", depth + 1, replies)
        return True

# -- entry points (each a batch written at once, in the caller's transaction) ------------------


def handle_participant_message(session: Session, services: Services, participant: Participant,
                               message: Any, now: datetime) -> list[str]:
    """Answer an enrolled participant's ordinary message; return the reply texts."""
    batch = Batch(session, services, now)
    replies = batch.reply(participant, message)
    batch.write()
    return replies


def start_flow(session: Session, services: Services, participant: Participant, flow_id: str,
               now: datetime, trigger: str = "schedule") -> RunRow | None:
    """Start `flow_id` for the participant outside a reply (texts are queued); None if not."""
    batch = Batch(session, services, now)
    run = batch.start(participant, flow_id, trigger)
    batch.write()
    return run


def start_flows(session: Session, services: Services, participants: Iterable[Participant],
                flow_id: str, now: datetime, trigger: str = "schedule") -> list[int]:
    """Start `flow_id` for many participants in one batch; return who started."""
    batch = Batch(session, services, now)
    started = batch.start_many(participants, flow_id, trigger)
    batch.write()
    return started


def fire_timeout(session: Session, services: Services, run_id: int, wait_token: str,
                 now: datetime) -> bool:
    """Fire the timeout of the wait `wait_token`; False (nothing done) if it is stale."""
    batch = Batch(session, services, now)
    fired = batch.timeouts([(run_id, wait_token)]) == 1
    batch.write()
    return fired


def expire_run(session: Session, services: Services, run_id: int, now: datetime) -> bool:
    """End a run whose `expires_at` has passed, quietly; False if it is not due or not active."""
    batch = Batch(session, services, now)
    expired = batch.expiries([run_id]) == 1
    batch.write()
    return expired


def fire_due(session: Session, services: Services, now: datetime) -> int:
    """Fire every due timeout, then expire every due run; return how many acted."""
    batch = Batch(session, services, now)
    done = batch.timeouts(due_timeouts(session, now))
    batch.write()
    done += batch.expiries(due_expiries(session, now))
    batch.write()
    return done


def end_active_runs(session: Session, participant_id: int, now: datetime, *,
                    cancel_texts: str | None = None) -> int:
    """End every active run of the participant quietly; return how many.

    With `cancel_texts` (the reason), their flow texts still waiting in the outbox
    (e.g. for the end of quiet hours) are cancelled too.
    """
    ended = list(session.scalars(
        update(RUNS).where(RUNS.c.participant_id == participant_id,
                           RUNS.c.status == RunStatus.ACTIVE)
        .values(status=RunStatus.ENDED, waiting=False, timeout_at=None, expires_at=None,
                ended_at=now, updated_at=now).returning(RUNS.c.id)))
    if ended and cancel_texts:
        cancel_unsent(session, now, cancel_texts, StoredMessage.run_id.in_(ended),
                      StoredMessage.kind == "flow")
    return len(ended)


def on_enrolled(session: Session, services: Services, participant: Participant,
                now: datetime) -> None:
    """Start what a new participant gets: the flow with `enrolled: true`, else `welcome`."""
    if services.flows is None:
        return
    marked = sorted(flow.id for flow in services.flows.flows() if flow.on_enrolled)
    first = marked[0] if marked else "welcome"
    if services.flows.get(first) is not None:
        start_flow(session, services, participant, first, now, trigger="enrolled")
