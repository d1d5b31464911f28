"""Draft nudges from the staff-configured schedules in flows/nudges.yaml into coaches' queues."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def draft_scheduled_nudges(services: Any, now: datetime) -> str:
    """Draft every due scheduled nudge for each active participant (once per occurrence)."""
    return "nudge schedules not available"
