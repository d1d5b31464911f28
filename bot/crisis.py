"""Crisis first (SPEC §6.3): answer crisis language at once and alert people.

Rules:
- Checked before anything else, for every inbound participant message,
  against flows/safety.yaml (built-in phrases if it is missing or broken).
- The reply is returned for the TwiML whatever the flow state, quiet hours,
  opt-out or approvals.
- One urgent escalation per message (event_key `crisis:msg:ID`): the coach and
  safety.staff_phones are texted at once and pending nudges are paused
  (bot.escalations.open_escalation does both). Alerts never carry the text.
- The participant's current run ends quietly: no check-in question follows a
  crisis reply, and its timeouts will not fire.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.escalations import open_escalation
from bot.flows.safety import SafetyMatcher
from bot.runtime import end_active_runs

log = logging.getLogger(__name__)
_BUILTIN = SafetyMatcher()


def matcher_for(services: Any) -> SafetyMatcher:
    """Return the safety matcher in force (the store's, else the built-in one)."""
    store = getattr(services, "flows", None)
    return store.safety if store is not None else _BUILTIN


def handle_if_crisis(
    session: Session, services: Any, participant: Any, message: Any, now: datetime
) -> list[str] | None:
    """Return the crisis replies if `message` is a crisis (and record alerts), else None."""
    try:
        matcher = matcher_for(services)
    except Exception:  # never let a broken store switch crisis detection off
        log.exception("safety matcher unavailable; using the built-in phrases")
        matcher = _BUILTIN
    if matcher.match(message.body or "") is None:
        return None
    log.warning("crisis language from participant %s (message %s)", participant.id, message.id)
    open_escalation(session, services, participant, kind="crisis", urgent=True,
                    reason="Crisis language in a text; call them now",
                    event_key=f"crisis:msg:{message.id}", now=now, message_id=message.id)
    end_active_runs(session, participant.id, now)
    return [matcher.reply]
