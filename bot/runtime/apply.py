"""Apply the flow engine to the database: the only code that turns engine actions into rows.

Rules (SPEC §6.4-6.6, docs/architecture.md):
- Routing of an ordinary message: the waiting step, else a trigger keyword,
  else the `fallback` flow. A reply the waiting step cannot read that is
  exactly another flow's keyword starts that flow instead of a re-ask.
- Replies to the participant's own message are returned (they travel in the
  TwiML; inbound.py records them). Texts outside a reply (scheduled starts,
  timeouts) are queued and wait for the end of the participant's quiet hours.
- Coach notifications leave at once (urgent, quiet hours do not apply);
  escalations go through open_escalation with one event_key per event; nudge
  drafts through draft_nudge; every saved answer becomes a CheckinAnswer.
- A run finishes on the flow version it started (`Run.flow_version`).
- Many scheduled starts at once (the check-in job) go through
  bot.runtime.bulk.start_flows_bulk: the same decisions and rows as
  start_flow for each, the rows written with a few bulk INSERTs.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.durations import quiet_hours_end
from bot.domain.escalations import open_escalation
from bot.domain.inbox import escalation_kind, to_inbox
from bot.domain.nudges import draft_nudge
from bot.domain.peg import record_baseline
from bot.domain.program_arc import STARTABLE, set_status
from bot.flows import actions as act
from bot.flows.engine import (
    Event,
    Expire,
    Message,
    RunState,
    Start,
    Timeout,
    advance,
)
from bot.flows.keywords import normalize_keyword
from bot.flows.model import Flow
from bot.flows.replies import parse_reply
from bot.models import CheckinAnswer, Coach, Participant, Run
from bot.models import Message as StoredMessage  # engine Message = an inbound event
from bot.outbox.cancel import cancel_unsent
from bot.outbox.queue import PRIORITY_ALERT, QueuedText, queue_message
from bot.runtime.context import context_for
from bot.runtime.late_answers import late_answer_reply
from bot.services import Services

if TYPE_CHECKING:
    from bot.runtime.bulk import StartBatch

log = logging.getLogger(__name__)
MAX_HANDOVERS = 5


def _state(run: Run) -> RunState:
    return RunState(flow_id=run.flow_id, flow_version=run.flow_version, step=run.step,
                    waiting=run.waiting, variables=dict(run.variables or {}),
                    retries=run.retries, wait_token=run.wait_token, asked_at=run.asked_at,
                    timeout_at=run.timeout_at, expires_at=run.expires_at)


def end_run(run: Run, now: datetime, status: str = "ended") -> None:
    run.status = status
    run.waiting = False
    run.timeout_at = None
    run.expires_at = None
    run.ended_at = now
    run.updated_at = now


def ended_as(action: act.EndRun) -> str:
    """Return the status a run ends with."""
    return "expired" if action.reason == "expired" else "ended"


def new_run(participant_id: int, flow: Flow, trigger: str, now: datetime) -> Run:
    """Return a new active run of `flow` at its start step (every column set, not yet added)."""
    return Run(participant_id=participant_id, flow_id=flow.id, flow_version=flow.version,
               status="active", step=flow.start, waiting=False, variables={}, retries=0,
               wait_token=None, asked_at=None, timeout_at=None, expires_at=None,
               trigger=trigger[:20], started_at=now, updated_at=now, ended_at=None)


def set_state(run: Run, new: RunState, now: datetime) -> None:
    """Store the engine's new state on the run."""
    run.step, run.waiting, run.retries = new.step, new.waiting, new.retries
    run.variables = dict(new.variables)
    run.wait_token, run.asked_at = new.wait_token, new.asked_at
    run.timeout_at, run.expires_at = new.timeout_at, new.expires_at
    run.updated_at = now


def flow_text(services: Services, participant: Participant, flow: Flow, run_id: int | None,
               action: act.Send, now: datetime, due: datetime | None = None) -> QueuedText:
    """Return queue_message's arguments for a flow text sent outside a reply (quiet hours)."""
    if due is None:
        due = quiet_hours_end(services.config.program.quiet_hours, now, participant.timezone)
    return QueuedText(phone=participant.phone, body=action.text, kind="flow", now=now,
                      participant=participant, coach_id=participant.coach_id, due_at=due,
                      flow_id=flow.id, step_id=action.step, run_id=run_id)


def active_run(session: Session, participant_id: int) -> Run | None:
    """Return the participant's active run (the newest, if several)."""
    return session.scalar(select(Run).where(Run.participant_id == participant_id,
                                            Run.status == "active")
                          .order_by(Run.id.desc()).limit(1))


def end_active_runs(session: Session, participant_id: int, now: datetime, *,
                    cancel_texts: str | None = None) -> int:
    """End every active run of the participant quietly; return how many.

    With `cancel_texts` (the reason), their flow texts still waiting in the outbox
    (e.g. for the end of quiet hours) are cancelled too.
    """
    runs = list(session.scalars(select(Run).where(Run.participant_id == participant_id,
                                                  Run.status == "active")))
    for run in runs:
        end_run(run, now)
    if runs and cancel_texts:
        run_ids = [run.id for run in runs]
        cancel_unsent(session, now, cancel_texts, StoredMessage.run_id.in_(run_ids),
                      StoredMessage.kind == "flow")
    return len(runs)


def _flow_of(services: Services, run: Run) -> Flow | None:
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


def _export_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return str(value)


class _Apply:
    """Apply outcomes for one participant in one transaction."""

    def __init__(self, session: Session, services: Services, participant: Participant,
                 now: datetime, reply: bool):
        self.session = session
        self.services = services
        self.participant = participant
        self.now = now
        self.reply = reply
        self.texts: list[str] = []

    def begin(self, flow: Flow, trigger: str, depth: int = 0) -> Run:
        run = new_run(self.participant.id, flow, trigger, self.now)
        self.session.add(run)
        self.session.flush()
        event = Start(trigger)
        self.run_event(flow, run, event, depth)
        return run

    def run_event(self, flow: Flow, run: Run, event: Event, depth: int = 0) -> bool:
        context = context_for(self.services, self.participant, self.session, flow)
        state = None if isinstance(event, Start) else _state(run)
        outcome = advance(flow, state, event, self.now, context)
        for error in outcome.errors:
            log.warning("run %s (%s): %s", run.id, flow.id, error)
        if not outcome.handled:
            return False
        handover: str | None = None
        for action in outcome.actions:
            handover = self.apply(flow, run, action) or handover
        if outcome.state is not None:
            set_state(run, outcome.state, self.now)
        if handover is not None:
            store = self.services.flows
            target = store.get(handover) if store is not None else None
            if target is None or depth >= MAX_HANDOVERS:
                log.warning("run %s: cannot hand over to %r", run.id, handover)
            else:
                self.begin(target, "flow", depth + 1)
        return True

    def apply(self, flow: Flow, run: Run, action: act.Action) -> str | None:
        """Turn one action into rows; return a flow id to hand over to."""
        participant, now, session = self.participant, self.now, self.session
        if isinstance(action, act.Send):
            if self.reply:
                self.texts.append(action.text)
            else:
                queue_message(session, **flow_text(self.services, participant, flow, run.id,
                                                    action, now))
        elif isinstance(action, act.NotifyCoach):
            coach = session.get(Coach, participant.coach_id)
            if coach is not None and coach.phone and coach.active:
                queue_message(session, phone=coach.phone, body=f"PeerLine (P{participant.id}): "
                              f"{action.text}", kind="notify", now=now, coach_id=coach.id,
                              to_participant=False, urgent=True,  # waits for coach's day
                              priority=PRIORITY_ALERT, flow_id=flow.id, step_id=action.step,
                              run_id=run.id)
        elif isinstance(action, act.Escalate):
            open_escalation(session, self.services, participant, kind=escalation_kind(flow.id),
                            reason=action.reason, event_key=f"run:{run.id}:{action.key}",
                            now=now, run_id=run.id)
        elif isinstance(action, act.DraftNudge):
            draft_nudge(session, participant, body=action.text,
                        reason=f"{flow.name}: {action.step}", source=f"{flow.id}:{action.step}",
                        event_key=f"run:{run.id}:{action.key}", due_at=action.due_at, now=now,
                        max_lateness=action.max_late)
        elif isinstance(action, act.SaveAnswer):
            if not action.variable.startswith("participant."):
                run.variables = {**(run.variables or {}), action.variable: action.value}
                record_baseline(participant, run.variables, now)
            session.add(CheckinAnswer(participant_id=participant.id, run_id=run.id,
                                      flow_id=flow.id, variable=action.variable[:80],
                                      value=_export_value(action.value),
                                      asked_at=action.asked_at, answered_at=now))
        elif isinstance(action, act.SetParticipantField):
            if action.name == "strategies":
                value = action.value
                participant.strategies = list(value) if isinstance(value, list) else [value]
            else:
                participant.fields = {**(participant.fields or {}), action.name: action.value}
        elif isinstance(action, act.SetProgramStatus):
            set_status(session, participant, action.status, now, actor=f"flow:{flow.id}")
        elif isinstance(action, act.StartFlow):
            return action.flow_id
        elif isinstance(action, act.EndRun):
            end_run(run, now, ended_as(action))
        return None


def handle_participant_message(
    session: Session, services: Services, participant: Participant, message: Any, now: datetime
) -> list[str]:
    """Answer an enrolled participant's ordinary message; return the reply texts."""
    store = services.flows
    if store is None:  # a tool's Services built without flows: there is nothing to run
        return []
    text = message.body or ""
    applier = _Apply(session, services, participant, now, reply=True)
    with session.no_autoflush:  # only the message and participant are pending: one flush
        run = active_run(session, participant.id)
    if run is not None and run.expires_at is not None and run.expires_at <= now:
        expire_run(session, services, run.id, now)
        run = None
    keyword = normalize_keyword(text)
    keyword_flow = store.by_keyword(keyword) if keyword else None
    if run is not None and run.waiting:
        flow = _flow_of(services, run)
        step = flow.steps.get(run.step or "") if flow is not None else None
        if flow is None or step is None or step.expect is None:
            end_run(run, now)
        elif keyword_flow is None or parse_reply(step.expect, text).ok:
            if isinstance(message, StoredMessage):  # exports: the question this answered
                message.flow_id, message.step_id, message.run_id = run.flow_id, run.step, run.id
            applier.run_event(flow, run, Message(text))
            return applier.texts
    target, trigger = keyword_flow, "keyword"
    if target is None and (late := late_answer_reply(
            session, services, participant, text, now, getattr(message, "id", None))) is not None:
        return [late]  # before fallback: say how to restart, not the generic menu
    passed = None
    if target is None:  # the veteran's own words: to the coach's inbox (bot/domain/inbox.py)
        passed = to_inbox(session, services, participant, message, now)
        if passed is not None and passed.in_conversation:
            return [passed.reply]
        target, trigger = store.get("fallback"), "fallback"
    told = [passed.reply] if passed is not None else []
    if target is None:
        return told
    end_active_runs(session, participant.id, now)
    applier.begin(target, trigger)
    return told + applier.texts


def start_flow(
    session: Session, services: Services, participant: Participant, flow_id: str, now: datetime,
    trigger: str = "schedule", batch: StartBatch | None = None,
) -> Run | None:
    """Start `flow_id` for the participant outside a reply (texts are queued); None if not.

    With `batch`, a start that only texts is planned there and written (the run
    gets its id) by batch.write(), in the same transaction.
    """
    if services.flows is None or participant.status not in STARTABLE:
        return None
    flow = services.flows.get(flow_id)
    if flow is None:
        return None
    if batch is not None and participant.id in batch.ids:
        current = batch.current(participant.id)
    else:
        current = active_run(session, participant.id)
    if current is not None and current.flow_id == flow_id and trigger == "schedule":
        return None  # already in progress
    if batch is not None and (planned := batch.plan(participant, flow, trigger)) is not None:
        return planned
    end_active_runs(session, participant.id, now)
    return _Apply(session, services, participant, now, reply=False).begin(flow, trigger)


def _load(session: Session, run_id: int) -> tuple[Run, Participant] | None:
    run = session.get(Run, run_id, with_for_update=True)
    if run is None or run.status != "active":
        return None
    participant = session.get(Participant, run.participant_id)
    return (run, participant) if participant is not None else None


def fire_timeout(session: Session, services: Services, run_id: int, wait_token: str,
                 now: datetime) -> bool:
    """Fire the timeout of the wait `wait_token`; False (nothing done) if it is stale."""
    loaded = _load(session, run_id)
    if loaded is None:
        return False
    run, participant = loaded
    if not run.waiting or run.wait_token != wait_token:
        return False
    flow = _flow_of(services, run)
    if flow is None:
        end_run(run, now)
        return False
    applier = _Apply(session, services, participant, now, reply=False)
    if not applier.run_event(flow, run, Timeout(wait_token)):
        run.timeout_at = None  # nothing to fire (e.g. the new version has no timeout)
        return False
    return True


def expire_run(session: Session, services: Services, run_id: int, now: datetime) -> bool:
    """End a run whose `expires_at` has passed, quietly; False if it is not due or not active."""
    loaded = _load(session, run_id)
    if loaded is None:
        return False
    run, participant = loaded
    if run.expires_at is None or run.expires_at > now:
        return False
    flow = _flow_of(services, run)
    if flow is None:
        end_run(run, now, "expired")
        return True
    _Apply(session, services, participant, now, reply=False).run_event(flow, run, Expire())
    if run.status == "active":
        end_run(run, now, "expired")
    return True


def due_timeouts(session: Session, now: datetime, limit: int = 500) -> list[tuple[int, str]]:
    """Return (run id, wait token) of waits whose timeout is due (uses ix_runs_status_timeout)."""
    rows = session.execute(select(Run.id, Run.wait_token)
                           .where(Run.status == "active", Run.timeout_at <= now)
                           .order_by(Run.timeout_at).limit(limit))
    return [(run_id, token or "") for run_id, token in rows]


def due_expiries(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Return the ids of active runs past `expires_at` (uses ix_runs_status_expires)."""
    return list(session.scalars(select(Run.id).where(Run.status == "active",
                                                     Run.expires_at <= now)
                                .order_by(Run.expires_at).limit(limit)))


def fire_due(session: Session, services: Services, now: datetime) -> int:
    """Fire every due timeout, then expire every due run; return how many acted."""
    done = sum(fire_timeout(session, services, run_id, token, now)
               for run_id, token in due_timeouts(session, now))
    return done + sum(expire_run(session, services, run_id, now)
                      for run_id in due_expiries(session, now))


def on_enrolled(session: Session, services: Any, participant: Participant, now: datetime) -> None:
    """Start what a new participant gets: the flow with `enrolled: true`, else `welcome`."""
    if services.flows is None:
        return
    marked = sorted(flow.id for flow in services.flows.flows() if flow.on_enrolled)
    first = marked[0] if marked else "welcome"
    if services.flows.get(first) is not None:
        start_flow(session, services, participant, first, now, trigger="enrolled")
