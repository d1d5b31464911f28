"""Configure logging so that no full phone number ever reaches a log line.

Rules: code logs ids and masked numbers (bot.phones.mask), never message
bodies. The filter here is a second line of defence that masks anything
that still looks like a phone number.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_PHONE = re.compile(r"\+?\(?\d[\d\-\s().]{7,}\d")


_NOT_A_PHONE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{1,3}(\.\d{1,3}){3})")  # dates, IPv4


def _mask_match(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if len(digits) < 8 or _NOT_A_PHONE.match(match.group(0)):
        return match.group(0)
    return "+" + "*" * (len(digits) - 2) + digits[-2:]


def redact(text: str) -> str:
    """Mask every phone-number-like run of digits in `text`."""
    return _PHONE.sub(_mask_match, text)


class RedactingFilter(logging.Filter):
    """Mask phone numbers in every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        return True


class RedactingFormatter(logging.Formatter):
    """Format records as text, masking phone numbers in tracebacks too."""

    def format(self, record: logging.LogRecord) -> str:
        cached = record.exc_text  # another handler may have cached an unmasked traceback
        record.exc_text = None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return redact(super().formatStack(stack_info))


class JsonFormatter(logging.Formatter):
    """Write one JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload)


def setup_logging(level: str = "INFO", json_lines: bool = False) -> None:
    """Install one redacting handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_peerline", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._peerline = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter() if json_lines
        else RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)
    for chatty in ("alembic", "apscheduler"):  # their INFO lines bury what operators need
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
