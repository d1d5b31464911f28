"""Helpers for the scheduler and sender tests: scripted SMS senders, virtual time, tokens.

benchmarks/sender_rate.py takes `watch_grants` from here too, as other benchmarks
take tests.fake_twilio.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.clock import FrozenClock
from bot.core.config import Config
from bot.domain.people import add_coach, add_participant
from bot.models import Message, Outbox, Participant
from bot.outbox.queue import queue_message
from bot.services import Services, build_services
from bot.sms import SendError, SendResult


class ScriptedSender:
    """An SmsSender that answers from a script (SendError or None for success), recording times.

    A phone in `refuse` gets its error on every send, without using the script.
    """

    def __init__(self, clock: FrozenClock | None = None, script: Iterable[Any] = (),
                 latency: float = 0.0):
        self.clock = clock
        self.script = list(script)
        self.latency = latency
        self.sent: list[tuple[str, str]] = []
        self.times: list[float] = []
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.event = threading.Event()
        self.refuse: dict[str, Exception] = {}  # phone -> the error every send to it raises
        self._lock = threading.Lock()

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> SendResult:
        with self._lock:
            self.calls += 1
            if to in self.refuse:
                outcome = self.refuse[to]
            else:
                outcome = self.script.pop(0) if self.script else None
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.times.append(self.clock.now().timestamp() if self.clock else time.monotonic())
        try:
            if self.latency:
                time.sleep(self.latency)  # the fake API's latency, not a wait for the scheduler
            if isinstance(outcome, Exception):
                raise outcome
            with self._lock:
                self.sent.append((to, body))
            self.event.set()
            return SendResult(sid=f"SM{uuid.uuid4().hex}", status="queued")
        finally:
            with self._lock:
                self.in_flight -= 1


SERVER_ERROR = SendError("500: server error", code=20500, http_status=500, retryable=True)
OPTED_OUT = SendError("21610: unsubscribed", code=21610, http_status=400, retryable=False)
BAD_NUMBER = SendError("21211: bad To", code=21211, http_status=400, retryable=False)


def virtual_time(clock: FrozenClock) -> dict[str, Any]:
    """Return OutboxSender keyword arguments that run its rate limiter on `clock`."""
    def sleep(seconds: float) -> None:
        clock.advance(timedelta(microseconds=math.ceil(seconds * 1e6)))

    return {"monotonic": lambda: clock.now().timestamp(), "sleep": sleep}


def on_grant(sender: Any, record: Callable[[float], None]) -> None:
    """Call `record(at)` with the time of each rate token the sender's bucket grants."""
    acquire = sender.bucket.acquire

    def recorded(*args: Any, **kwargs: Any) -> float | None:
        at = acquire(*args, **kwargs)
        if at is not None:
            record(at)
        return at

    sender.bucket.acquire = recorded


def max_in_window(times: Iterable[float], window: float = 1.0) -> int:
    """Return the most events inside any half-open window of `window` seconds."""
    ordered = sorted(times)
    return max((bisect.bisect_right(ordered, t + window - 1e-9) - i
                for i, t in enumerate(ordered)), default=0)


def watch_grants(sender: Any) -> list[float]:
    """Return the list that gets the time of each rate token the sender is granted."""
    granted: list[float] = []
    on_grant(sender, granted.append)
    return granted


def queue(services: Any, participant_id: int | None, body: str, *, phone: str | None = None,
          due_at: datetime | None = None, not_after: datetime | None = None, priority: int = 5,
          respect_quiet_hours: bool = True, urgent: bool = False) -> int:
    """Queue one outbound text (to the participant, or to `phone`); return the message id."""
    now = services.clock.now()
    with services.db.session() as session:
        participant = session.get(Participant, participant_id) if participant_id else None
        message = queue_message(
            session, phone=phone or (participant.phone if participant else "+12025550199"),
            body=body, kind="flow" if participant else "alert", now=now, participant=participant,
            due_at=due_at, not_after=not_after, priority=priority,
            respect_quiet_hours=respect_quiet_hours, to_participant=participant is not None,
            urgent=urgent)
        return message.id


SENDER_NOON = datetime(2026, 12, 7, 17, tzinfo=UTC)  # noon in New York: no quiet hours
SENDER_COACH = "+12025550101"


def services_with_sam(config: Config) -> Services:
    """Build services at SENDER_NOON with coach Alex and veteran Sam (the sender tests')."""
    built = build_services(config, clock=FrozenClock(SENDER_NOON))
    with built.db.session() as session:
        coach = add_coach(session, name="Alex", phone=SENDER_COACH, now=SENDER_NOON)
        add_participant(session, phone="+12025550123", name="Sam", coach=coach,
                        timezone="America/New_York", now=SENDER_NOON)
    return built


def outbox_row(services: Any, message_id: int) -> tuple[Outbox, Message]:
    """Return the (outbox row, message) for `message_id`, freshly read."""
    with services.db.session() as session:
        row = session.scalar(select(Outbox).where(Outbox.message_id == message_id))
        message = session.get(Message, message_id)
        assert row is not None and message is not None
        return row, message


@pytest.fixture
def fake(services: Any, clock: FrozenClock) -> ScriptedSender:
    """Replace the app's SMS sender with a ScriptedSender on the test clock."""
    services.sender = ScriptedSender(clock)
    return services.sender


@pytest.fixture
def make_sender(services: Any, clock: FrozenClock) -> Iterator[Callable[..., Any]]:
    """Build OutboxSenders in virtual time (rate 100, one in flight unless told); stop them."""
    from bot.sending.sender import OutboxSender

    made: list[OutboxSender] = []

    def build(**kwargs: Any) -> OutboxSender:
        kwargs.setdefault("rate", 100)
        kwargs.setdefault("max_in_flight", 1)
        sender = OutboxSender(services, rng=random.Random(7), **virtual_time(clock), **kwargs)
        made.append(sender)
        return sender

    yield build
    for sender in made:
        sender.stop()
