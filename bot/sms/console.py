"""The console transport: print each text instead of sending it (local use)."""

from __future__ import annotations

import sys
import threading
import uuid
from typing import TextIO

from bot.sms import SendResult


class ConsoleSender:
    """Print texts to a stream; nothing leaves the machine."""

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream
        self._lock = threading.Lock()
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> SendResult:
        with self._lock:
            self.sent.append((to, body))
            stream = self._stream or sys.stdout
            print(f"[sms to {to}] {body}", file=stream, flush=True)
        return SendResult(sid=f"SM{uuid.uuid4().hex}", status="delivered")
