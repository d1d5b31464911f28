"""What one outbox pass claims and reports, and how long a row waits before its own next try."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, fields

from bot.sms import SendError

BACKOFF_BASE = 2.0  # seconds before the second try
BACKOFF_CAP = 600.0


@dataclass
class PassReport:
    """What one drain did, by outcome."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0
    deferred: int = 0
    reclaimed: int = 0
    refused: int = 0  # retryable failures judged the provider's: no try charged
    paused: bool = False  # the pass ended with the circuit open (not an outcome)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + count)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if not f.name.startswith("_") and f.name != "paused"}

    def __str__(self) -> str:
        parts = [f"{count} {name}" for name, count in self.as_dict().items() if count]
        if self.paused:
            parts.append("sending paused: the SMS provider is refusing")
        return ", ".join(parts) or "nothing due"


@dataclass(frozen=True)
class Claim:
    """One claimed row, detached from its session."""

    outbox_id: int
    message_id: int
    to: str
    body: str
    participant_id: int | None
    attempts: int


def refusal_code(error: SendError) -> str:
    """Return e.g. "500/20500", "429" or "network": how the provider refused, no text."""
    status = str(error.http_status) if error.http_status else "network"
    return f"{status}/{error.code}" if error.code else status


def backoff(attempts: int, rng: random.Random) -> float:
    """Return seconds to wait after the `attempts`-th failed try (exponential, jittered)."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1)) * (0.5 + rng.random())
