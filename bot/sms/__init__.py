"""The SMS sender interface; transports live beside it (console, twilio)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SendResult:
    """What the transport reported for one accepted message."""

    sid: str | None
    status: str = "sent"
    segments: int | None = None


class SendError(Exception):
    """A send failed; `retryable` tells the outbox whether to try again."""

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None,
                 retryable: bool = True):
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        self.retryable = retryable

    @property
    def opted_out(self) -> bool:
        """Tell whether the carrier says the recipient has opted out (Twilio 21610)."""
        return self.code == 21610


class SmsSender(Protocol):
    """Send one SMS; raise SendError on failure."""

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> SendResult: ...


def segments_for(body: str) -> int:
    """Return how many SMS segments `body` takes (GSM-7 vs UCS-2)."""
    gsm = set(
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
    )
    if all(ch in gsm for ch in body):
        length = len(body) + sum(1 for ch in body if ch in "^{}\\[~]|€")
        return 1 if length <= 160 else -(-length // 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)
