"""Route a participant's message through the flow engine. PLACEHOLDER: acknowledges."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


def handle_participant_message(
    session: Session, services: Any, participant: Any, message: Any, now: datetime
) -> list[str]:
    """Answer an enrolled participant's ordinary message; return the reply texts."""
    return [f"Thanks, {participant.first_name}. Your coach will see your message."]


def on_enrolled(session: Session, services: Any, participant: Any, now: datetime) -> None:
    """Start what a new participant gets (the welcome flow)."""
