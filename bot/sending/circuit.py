"""A provider-wide pause (circuit breaker) for the outbox sender: one per sender, in memory.

Rules (bot/sending/sender.py invariant 5 relies on them):

1. Answers are ordered by a counter, not a clock: each acceptance and each
   retryable refusal the sender reports takes the next number. "The provider
   accepted a message since R's last refusal" compares numbers, so two answers
   that share one clock reading (virtual time, a coarse clock) still have an order.
2. A retryable refusal of row R is R's own when the provider accepted some
   message after R's previous retryable refusal. Otherwise (R was never
   refused here, or nothing was accepted since) it is the provider's: the row
   must not be charged a try, and the circuit opens if it was closed.
3. closed -> open (pausing) -> probing (one row in flight) -> closed when any
   send is accepted; open again with the pause doubled when the probe is the
   provider's refusal; open with the next probe due at once when the probe said
   nothing about the provider (a final error, the row's own refusal, no call).
   A send that was already in flight when the circuit opened is judged by rule 2
   and closes the circuit if it is accepted.
4. Pause: `first_pause` x 2^(failed probes), at most `max_pause`, times
   1 +/- `jitter` from the injected rng; time comes from the injected `monotonic`.
5. Memory is this process's only: outbox id -> number of its last retryable
   refusal, forgotten when the row finishes, at most `remember` entries (the
   oldest go first; a forgotten row's next refusal is the provider's, so
   forgetting never charges a try). Another sender process has its own circuit.
6. Logs say when the circuit opens and closes with counts and error codes only,
   never a body or a phone number.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

log = logging.getLogger(__name__)
FIRST_PAUSE = 1.0
MAX_PAUSE = 16.0  # docs/performance.md ("Twilio outage") says why
JITTER = 0.1
REMEMBER = 10_000


class Circuit:
    """Decide whether a retryable refusal is the provider's or the row's, and when to probe."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None, first_pause: float = FIRST_PAUSE,
                 max_pause: float = MAX_PAUSE, jitter: float = JITTER,
                 remember: int = REMEMBER):
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self.first_pause = first_pause
        self.max_pause = max_pause
        self.jitter = jitter
        self.remember = max(1, remember)
        self._lock = threading.Lock()
        self._count = 0  # answers numbered in the order they were reported (rule 1)
        self._last_accepted = 0  # number of the last acceptance; 0 = none yet
        self._refused: dict[int, int] = {}  # outbox id -> number of its last refusal
        self.state = "closed"  # closed | open | probing
        self.until = 0.0  # monotonic time the pause ends (state open)
        self.failed_probes = 0
        self.opener: int | None = None  # the row whose refusal last opened or reopened it
        self.probe: int | None = None
        self._opened_at = 0.0
        self._codes: Counter[str] = Counter()  # provider refusals while open, by code

    # -- what the sender asks -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.state == "closed"

    def pause_left(self) -> float:
        """Return seconds until a probe may go: 0 when closed or due, inf while one is out."""
        with self._lock:
            if self.state == "closed":
                return 0.0
            if self.state == "probing":
                return math.inf
            return max(0.0, self.until - self._monotonic())

    def allows(self, outbox_id: int) -> bool:
        """Tell whether row `outbox_id` may be sent now: circuit closed, or it is the probe."""
        with self._lock:
            return self.state == "closed" or (self.state == "probing" and self.probe == outbox_id)

    def begin_probe(self, outbox_id: int) -> None:
        """Mark row `outbox_id` as the one probe the open circuit lets through."""
        with self._lock:
            if self.state == "open":
                self.state, self.probe = "probing", outbox_id

    def end_probe(self) -> None:
        """The probe is over without a verdict on the provider: the next probe may go at once."""
        with self._lock:
            if self.state == "probing":
                self.state, self.probe, self.until = "open", None, self._monotonic()

    # -- what the sender reports ----------------------------------------------------------

    def accepted(self, outbox_id: int) -> bool:
        """Record that the provider accepted row `outbox_id`; return whether that closed it."""
        with self._lock:
            self._count += 1
            self._last_accepted = self._count
            self._refused.pop(outbox_id, None)
            if self.state == "closed":
                return False
            codes = ", ".join(f"{code} x{n}" for code, n in sorted(self._codes.items()))
            log.warning("SMS provider accepts sends again: resuming after %.1f s paused, "
                        "%d refusals (%s), %d failed probes",
                        self._monotonic() - self._opened_at, sum(self._codes.values()), codes,
                        self.failed_probes)
            self.state, self.probe, self.opener = "closed", None, None
            self.failed_probes = 0
            self._codes.clear()
            return True

    def refused(self, outbox_id: int, code: str) -> bool:
        """Record a retryable refusal of row `outbox_id` (`code` e.g. "500/20500", "network").

        Return True when it is the row's own failure (charge the try, back the row off),
        False when it is the provider's (keep the row's try and due time; pause).
        """
        with self._lock:
            self._count += 1
            previous = self._refused.pop(outbox_id, None)
            self._refused[outbox_id] = self._count  # re-inserted: the dict stays oldest first
            while len(self._refused) > self.remember:
                del self._refused[next(iter(self._refused))]
            if previous is not None and self._last_accepted > previous:
                return True
            now = self._monotonic()
            self._codes[code] += 1
            if self.state == "closed":
                self.state, self.failed_probes, self._opened_at = "open", 0, now
                self.opener, self.until = outbox_id, now + self._pause()
                log.warning("SMS provider refused a send (%s): pausing all sends for %.1f s, "
                            "then probing with one", code, self.until - now)
            elif self.state == "probing" and self.probe == outbox_id:
                self.failed_probes += 1
                self.state, self.probe = "open", None
                self.opener, self.until = outbox_id, now + self._pause()
                log.info("SMS provider refused the probe (%s): pausing %.1f s more",
                         code, self.until - now)
            return False

    def forget(self, outbox_id: int) -> None:
        """Row `outbox_id` is finished (or not this process's any more): drop its memory."""
        with self._lock:
            self._refused.pop(outbox_id, None)

    def remembered(self) -> int:
        """Return how many rows' refusals are remembered (for tests)."""
        with self._lock:
            return len(self._refused)

    def _pause(self) -> float:
        base = min(self.max_pause, self.first_pause * 2 ** self.failed_probes)
        return base * (1 + self.jitter * (2 * self._rng.random() - 1))
