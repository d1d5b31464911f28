"""The flow engine: pure functions from (flow, run state, event, now, context) to an Outcome.

Invariants (in the spirit of h11: a state machine that does no I/O):
- No I/O of any kind: no database, no Flask, no SMS, no clock reads, no
  randomness. The same inputs always give the same Outcome; callers pass `now`.
- The engine never mutates its inputs. RunState is frozen; Outcome carries the
  new state (None when the run has ended) and a tuple of actions, in the order
  they must take effect: say, then the step's actions, then wait or move on.
- Exactly one step at a time waits, and only a step with `expect` waits. Every
  wait gets a fresh `wait_token`; a Timeout whose token is not the current one,
  or that arrives when nothing waits, is ignored (`handled=False`), so a stale
  or repeated timer never acts twice.
- A run ends with exactly one EndRun action: done, invalid, expired,
  handover (start_flow) or error. After EndRun the state is None.
- Templates render in Jinja2's sandbox; a broken template or `when` never
  raises: it renders leniently / counts as false and is listed in `errors`.
- A flow that loops without waiting is stopped after MAX_HOPS steps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.flows.actions import (
    Action,
    DraftNudge,
    EndRun,
    Escalate,
    NotifyCoach,
    SaveAnswer,
    Send,
    SetParticipantField,
    SetProgramStatus,
    StartFlow,
)
from bot.flows.model import Flow, Step
from bot.flows.replies import default_invalid, parse_reply
from bot.flows.templates import evaluate, render

MAX_HOPS = 50


@dataclass(frozen=True)
class RunState:
    """Where one participant is in one flow (stored as a `runs` row)."""

    flow_id: str
    flow_version: str
    step: str | None
    waiting: bool = False
    variables: Mapping[str, Any] = field(default_factory=dict)
    retries: int = 0
    wait_token: str | None = None
    asked_at: datetime | None = None
    timeout_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Context:
    """What templates may read besides saved variables; plain data only."""

    participant: Mapping[str, Any] = field(default_factory=dict)
    coach: Mapping[str, Any] = field(default_factory=dict)
    program: Mapping[str, Any] = field(default_factory=dict)
    nudge_max_late: timedelta = timedelta(hours=12)


@dataclass(frozen=True)
class Message:
    """The participant replied with `text`."""

    text: str


@dataclass(frozen=True)
class Timeout:
    """The wait with `token` timed out."""

    token: str


@dataclass(frozen=True)
class Start:
    """Start the flow afresh (from its `start` step); `trigger` is recorded on the run."""

    trigger: str = "flow"


@dataclass(frozen=True)
class ScheduleStart(Start):
    """The flow's schedule came due."""

    trigger: str = "schedule"


@dataclass(frozen=True)
class KeywordStart(Start):
    """The participant texted one of the flow's keywords."""

    keyword: str = ""
    trigger: str = "keyword"


@dataclass(frozen=True)
class Expire:
    """The run outlived `expire_after`."""


Event = Message | Timeout | Start | Expire


@dataclass(frozen=True)
class Outcome:
    """The new state (None: the run ended), the actions, whether the event applied."""

    state: RunState | None
    actions: tuple[Action, ...] = ()
    handled: bool = True
    errors: tuple[str, ...] = ()


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()


class _Turn:
    """The working data of one `advance` call."""

    def __init__(self, flow: Flow, state: RunState, now: datetime, context: Context, key: str):
        self.flow = flow
        self.state = state
        self.now = now
        self.context = context
        self.participant = dict(context.participant)
        self.variables = dict(state.variables)
        self.key = key
        self.actions: list[Action] = []
        self.errors: list[str] = []

    def scope(self) -> dict[str, Any]:
        scope = dict(self.variables)
        scope.update(participant=self.participant, coach=dict(self.context.coach),
                     program=dict(self.context.program))
        return scope

    def render(self, source: str) -> str:
        text, error = render(source, self.scope())
        if error:
            self.errors.append(error)
        return text

    def outcome(self, state: RunState | None) -> Outcome:
        if state is not None:
            state = replace(state, variables=dict(self.variables))
        return Outcome(state, tuple(self.actions), True, tuple(self.errors))

    def end(self, reason: str) -> Outcome:
        self.actions.append(EndRun(reason))
        return self.outcome(None)

    def next_of(self, step: Step) -> str | None:
        scope = self.scope()
        for branch in step.next:
            if branch.when is None:
                return branch.go
            ok, error = evaluate(branch.when, scope)
            if error:
                self.errors.append(error)
            if ok:
                return branch.go
        return None

    def enter(self, step_id: str | None) -> Outcome:
        """Run steps from `step_id` until one waits, hands over or the flow ends."""
        hops = 0
        while step_id is not None:
            hops += 1
            step = self.flow.steps.get(step_id)
            if step is None or hops > MAX_HOPS:
                self.errors.append(f"stopped at step {step_id!r}: "
                                   + ("unknown step" if step is None else "too many steps"))
                return self.end("error")
            self.act(step)
            if step.start_flow is not None:
                self.actions.append(StartFlow(step.start_flow, step.id))
                return self.end("handover")
            if step.expect is not None:
                return self.outcome(self.wait(step))
            step_id = self.next_of(step)
        return self.end("done")

    def act(self, step: Step) -> None:
        """Say the step's text and take its actions (notify, escalate, nudge)."""
        event = f"{self.key[:12]}:{step.id}"
        if step.say:
            pick = int(_digest(self.key, step.id), 16) % len(step.say)
            self.actions.append(Send(self.render(step.say[pick]), step.id))
        if step.notify_coach:
            self.actions.append(NotifyCoach(self.render(step.notify_coach), step.id))
        if step.escalate:
            self.actions.append(Escalate(self.render(step.escalate), step.id, event))
        if step.nudge is not None:
            self.actions.append(DraftNudge(
                self.render(step.nudge.say), step.id, event, self.now + step.nudge.delay,
                step.nudge.max_late or self.context.nudge_max_late))
        if step.set_status is not None:
            self.actions.append(SetProgramStatus(step.set_status, step.id))

    def wait(self, step: Step) -> RunState:
        token = _digest(self.state.wait_token, self.flow.id, step.id, self.now.isoformat(),
                        self.key)[:20]
        timeout_at = self.now + step.timeout.after if step.timeout is not None else None
        return replace(self.state, step=step.id, waiting=True, retries=0, wait_token=token,
                       asked_at=self.now, timeout_at=timeout_at)

    def answer(self, step: Step, text: str) -> Outcome:
        """Read a reply to the waiting `step`."""
        assert step.expect is not None
        parsed = parse_reply(step.expect, text)
        if not parsed.ok:
            return self.reject(step)
        if step.save:
            value = parsed.value
            if step.save.startswith("participant."):
                name = step.save.split(".", 1)[1]
                self.actions.append(SetParticipantField(name, value))
                self.participant[name] = value
            else:
                self.variables[step.save] = value
            self.actions.append(SaveAnswer(step.save, value, step.id, self.state.asked_at))
        self.state = replace(self.state, waiting=False, retries=0, timeout_at=None)
        return self.enter(self.next_of(step))

    def reject(self, step: Step) -> Outcome:
        """Re-ask, or after the last re-ask go to `on_invalid` or end."""
        assert step.expect is not None
        if self.state.retries < step.retries:
            text = self.render(step.invalid) if step.invalid else default_invalid(step.expect)
            self.actions.append(Send(text, step.id))
            return self.outcome(replace(self.state, retries=self.state.retries + 1))
        self.state = replace(self.state, waiting=False, retries=0, timeout_at=None)
        if step.on_invalid is not None:
            return self.enter(step.on_invalid)
        return self.end("invalid")


def start(flow: Flow, now: datetime, context: Context, key: str = "") -> Outcome:
    """Start `flow` from its first step."""
    state = RunState(flow_id=flow.id, flow_version=flow.version, step=flow.start,
                     expires_at=now + flow.expire_after)
    turn = _Turn(flow, state, now, context, _digest("start", flow.id, now.isoformat(), key))
    return turn.enter(flow.start)


def advance(flow: Flow, state: RunState | None, event: Event, now: datetime,
            context: Context) -> Outcome:
    """Apply `event` to the run in `state` (None for a start) and return the Outcome."""
    if isinstance(event, Start):
        return start(flow, now, context, key=event.trigger)
    if state is None or state.step is None:
        return Outcome(state, handled=False)
    if isinstance(event, Expire):
        return Outcome(None, (EndRun("expired"),))
    if not state.waiting or not isinstance(event, Message | Timeout):
        return Outcome(state, handled=False)
    key = _digest(state.wait_token, state.step, now.isoformat(), type(event).__name__)
    turn = _Turn(flow, state, now, context, key)
    step = flow.steps.get(state.step)
    if step is None or step.expect is None:
        turn.errors.append(f"the run's step {state.step!r} is not a waiting step in this version")
        return turn.end("error")
    if isinstance(event, Timeout):
        if event.token != state.wait_token or step.timeout is None:
            return Outcome(state, handled=False)
        turn.state = replace(state, waiting=False, retries=0, timeout_at=None)
        return turn.enter(step.timeout.go)
    return turn.answer(step, event.text)
