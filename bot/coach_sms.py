"""Coach commands by SMS (SPEC §6.7). PLACEHOLDER until the scheduler issue lands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

USAGE = "Coach commands: QUEUE, OK ID, NO ID, EDIT ID new text, ACK ID."


def handle_coach_message(
    session: Session, services: Any, coach: Any, text: str, now: datetime
) -> list[str]:
    """Answer a text from a coach's own phone; return the reply texts."""
    return [USAGE]
