"""The last text of each number this process heard lately, for the crisis screen's join.

Rules: bounded (MAX_NUMBERS numbers, the last KEPT_CHARS of each text), thread-safe,
in memory only: a text that reached another worker is found in the database instead
(bot.inbound.screen). A previous text counts only within PREVIOUS_WINDOW.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta

PREVIOUS_WINDOW = timedelta(minutes=10)
MAX_NUMBERS = 10_000
KEPT_CHARS = 1_000  # of each previous text, its end: at most ~10 MB for the whole cache

class RecentTexts:
    """The last text of each recently heard number: phone -> (time, body), bounded."""

    def __init__(self, max_numbers: int = MAX_NUMBERS):
        self.max_numbers = max_numbers
        self._texts: OrderedDict[str, tuple[datetime, str]] = OrderedDict()
        self._lock = threading.Lock()

    def previous(self, phone: str, now: datetime) -> str | None:
        """Return the number's last text if it came within PREVIOUS_WINDOW before `now`."""
        with self._lock:
            found = self._texts.get(phone)
        if found is None or not now - PREVIOUS_WINDOW <= found[0] <= now:
            return None
        return found[1]

    def remember(self, phone: str, at: datetime, body: str) -> None:
        """Keep `body` as the number's last text; drop the oldest number when full."""
        with self._lock:
            self._texts[phone] = (at, body[-KEPT_CHARS:])
            self._texts.move_to_end(phone)
            while len(self._texts) > self.max_numbers:
                self._texts.popitem(last=False)
