"""What the engine asks the runtime to do: small frozen values, applied only by bot.runtime."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Send:
    """Text the participant (in the TwiML when answering them, else via the outbox)."""

    text: str
    step: str


@dataclass(frozen=True)
class NotifyCoach:
    """Text the participant's coach now (no approval, quiet hours do not apply)."""

    text: str
    step: str


@dataclass(frozen=True)
class Escalate:
    """Open an escalation; `key` is unique to this event within the run."""

    reason: str
    step: str
    key: str


@dataclass(frozen=True)
class DraftNudge:
    """Draft a message into the coach's approval queue, due at `due_at`."""

    text: str
    step: str
    key: str
    due_at: datetime
    max_late: timedelta


@dataclass(frozen=True)
class SaveAnswer:
    """Record a parsed answer (CheckinAnswer, for the research export)."""

    variable: str
    value: Any
    step: str
    asked_at: datetime | None = None


@dataclass(frozen=True)
class SetParticipantField:
    """Store a value on the participant: `strategies` or `fields[name]`."""

    name: str
    value: Any


@dataclass(frozen=True)
class SetProgramStatus:
    """Move the participant to `maintenance` or `completed` (the end of their program)."""

    status: str
    step: str


@dataclass(frozen=True)
class StartFlow:
    """Hand over to another flow (the current run ends with EndRun('handover'))."""

    flow_id: str
    step: str


@dataclass(frozen=True)
class EndRun:
    """The run is over: done, invalid, expired, handover or error."""

    reason: str


Action = Send | NotifyCoach | Escalate | DraftNudge | SaveAnswer | SetParticipantField \
    | SetProgramStatus | StartFlow | EndRun
