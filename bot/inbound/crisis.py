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
  crisis reply (its texts still waiting in the outbox, e.g. for the end of
  quiet hours, are cancelled), and its timeouts will not fire.
- A number that is not enrolled (a family member, a veteran texting from a new
  phone) gets the same reply, every time, instead of the program-line note,
  and every `safety.staff_phones` is texted at once with that number: there
  is no participant to open an escalation for, and staff must be able to call.
  So does a coach (peers live with pain too) whose text is not a command.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.core.phones import mask
from bot.domain.audit import audit
from bot.domain.escalations import open_escalation
from bot.flows.safety import SafetyMatcher
from bot.outbox.queue import PRIORITY_CRISIS, queue_message
from bot.runtime.apply import end_active_runs
from bot.services import Services

log = logging.getLogger(__name__)
_BUILTIN = SafetyMatcher()


def matcher_for(services: Services) -> SafetyMatcher:
    """Return the safety matcher in force (the store's, else the built-in one)."""
    store = getattr(services, "flows", None)
    return store.safety if store is not None else _BUILTIN


def safe_matcher(services: Services) -> SafetyMatcher:
    """Return the matcher in force; the built-in phrases if the store cannot give one."""
    try:
        return matcher_for(services)
    except Exception:  # never let a broken store switch crisis detection off
        log.exception("safety matcher unavailable; using the built-in phrases")
        return _BUILTIN


def handle_other_crisis(session: Session, services: Services, message: Any, now: datetime,
                        sender: str) -> list[str] | None:
    """Return the crisis reply if a text from a non-participant is a crisis (staff texted).

    `sender` says who texted, for staff: "a number not enrolled", "coach Alex (#3)".
    """
    matcher = safe_matcher(services)
    if matcher.match(message.body or "") is None:
        return None
    log.warning("crisis language from a non-participant at %s (message %s)",
                mask(message.phone), message.id)
    alert = (f"PeerLine URGENT: crisis words in a text from {message.phone}, {sender} "
             f"(message #{message.id}). Call them now.")
    for phone in services.config.safety.staff_phones:
        queue_message(session, phone=phone, body=alert, kind="alert", now=now, participant=None,
                      to_participant=False, respect_quiet_hours=False, priority=PRIORITY_CRISIS,
                      urgent=True)
    audit(session, "crisis.not_participant", now, target_type="message", target_id=message.id,
          sender=sender[:80])
    return [matcher.reply]


def handle_if_crisis(
    session: Session, services: Services, participant: Any, message: Any, now: datetime
) -> list[str] | None:
    """Return the crisis replies if `message` is a crisis (and record alerts), else None."""
    matcher = safe_matcher(services)
    if matcher.match(message.body or "") is None:
        return None
    log.warning("crisis language from participant %s (message %s)", participant.id, message.id)
    open_escalation(session, services, participant, kind="crisis", urgent=True,
                    reason="Crisis language in a text; call them now",
                    event_key=f"crisis:msg:{message.id}", now=now, message_id=message.id)
    end_active_runs(session, participant.id, now, cancel_texts="run ended by a crisis")
    return [matcher.reply]
