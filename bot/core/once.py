"""Keys of once-marks (`once_marks.key`), built from their parts.

Rules:
- A key is its kind and parts joined by ":" (`checkin:weekly:2026-12-07T10:00:42`).
- A key whose last part is "" ends in ":" and is a prefix: SQL appends a
  participant or coach id to it (`prefix || id`) to test many keys in one query.
- No code takes a key apart again: build the one you need from the same parts.
"""

from __future__ import annotations

from datetime import datetime


def once_key(kind: str, *parts: object) -> str:
    """Return the once-mark key of `kind` and `parts` (a last "" part makes a prefix)."""
    return ":".join([kind, *(str(part) for part in parts)])


def minute(moment: datetime) -> str:
    """Return `moment` as a key part, to the minute (`2026-12-07T10:00`)."""
    return f"{moment:%Y-%m-%dT%H:%M}"
