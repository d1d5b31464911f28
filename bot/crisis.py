"""Crisis first (SPEC §6.3). PLACEHOLDER until the flow issue lands: matches nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


def handle_if_crisis(
    session: Session, services: Any, participant: Any, message: Any, now: datetime
) -> list[str] | None:
    """Return the crisis replies if `message` is a crisis (and record alerts), else None."""
    return None
