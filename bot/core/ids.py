"""Database ids from the outside world (URLs, forms, texts): in range or not at all.

Rules:
- Every id column is a 32-bit integer on PostgreSQL and 64-bit on SQLite; a number
  above MAX_ID cannot name a row, so it is "not found" (404, "There is no ..."),
  never a database error.
"""

from __future__ import annotations

MAX_ID = 2**31 - 1


def in_range(number: int) -> bool:
    """Tell whether `number` can be a row id."""
    return 0 < number <= MAX_ID


def parse_id(raw: str | None) -> int | None:
    """Return `raw` as a row id, or None when it is not digits or out of range."""
    text = (raw or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        return None
    number = int(text)
    return number if in_range(number) else None
