"""A token bucket with an injected time source and sleep, so tests run it in virtual time.

Rules: at most `rate` tokens a second with at most `burst` saved up; a token is
taken only by `acquire`, and `acquire(may)` asks `may` under the bucket's lock
just before it takes one, so a caller that may no longer use a token (the
sender's circuit opened while it waited) takes none. `wait_ready` only waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Grant at most `rate` tokens per second, with at most `burst` saved up.

    With the default burst of 1 the grants are evenly spaced, so no window of
    one second ever holds more than `rate` grants (plus the one at its edge).
    """

    def __init__(self, rate: float, *, burst: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0:
            raise ValueError("rate must be above 0")
        self.rate = rate
        self.burst = max(1.0, burst)
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = 1.0
        self._last = monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def acquire(self, may: Callable[[], bool] | None = None) -> float | None:
        """Take one token, sleeping until one is there; return the time it was granted.

        With `may`, ask it just before taking the token (and after each sleep): when it
        says no, return None with no token taken.
        """
        with self._lock:
            while True:
                if may is not None and not may():
                    return None
                self._refill()
                if self._tokens >= 1.0 - 1e-6:  # float and microsecond clocks
                    self._tokens -= 1.0
                    return self._last
                self._sleep((1.0 - self._tokens) / self.rate)

    def wait_ready(self, within: float) -> None:
        """Sleep until a token will be there within `within` seconds; take none."""
        while True:
            with self._lock:
                self._refill()
                short = 1.0 - self._tokens - within * self.rate
            if short <= 1e-6:
                return
            self._sleep(short / self.rate)
