"""Crisis first (SPEC §6.3, §10): answer crisis and concern language at once and alert people.

Rules:
- Checked before anything else, for every inbound message from anyone
  (participant, coach, unknown number; before and after a command word),
  against flows/safety.yaml (built-in phrases if it is missing or broken).
  A caller that screened already (the webhook, from memory) passes its
  `verdict`; otherwise the text is screened here with the same number's
  previous text of the last 10 minutes.
- The reply is returned for the TwiML whatever the flow state, quiet hours,
  opt-out or approvals.
- Crisis: one urgent escalation per number per 30 minutes
  (bot.escalations.alert_once): the first text alerts the coach and
  safety.staff_phones at once and pauses pending nudges; repeats within the
  window add to its count and text nobody. Alerts never carry the text.
- The crisis reply says who was told only when it happened: "I've let your
  coach know." when the coach was texted, "I've let the program staff know."
  when only staff were, nothing when nobody was (bot/texts.py).
- The participant's current run ends quietly: no check-in question follows a
  crisis reply (its texts still waiting in the outbox are cancelled), and
  its timeouts will not fire.
- Concern: the concern reply (the crisis line and one direct question) and a
  concern question (bot/concern.py); YES or a crisis text upgrades it to a
  crisis, NO gets the NO reply and a non-urgent alert to the coach.
- A number that is not enrolled (a family member, a veteran texting from a
  new phone), or a coach, gets the same replies, every time, and staff are
  told through an escalation on that number (urgent for crisis, staff only).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.phones import mask
from bot.domain.audit import audit
from bot.domain.escalations import alert_once, recent_escalation
from bot.flows.replies import parse_yesno
from bot.flows.safety import SafetyMatcher, Tier, Verdict
from bot.inbound import concern
from bot.inbound.coach_sms import is_command
from bot.inbound.texts import with_who_was_told
from bot.models import INBOUND, Message, Participant
from bot.runtime.apply import end_active_runs
from bot.services import Services

log = logging.getLogger(__name__)
_BUILTIN = SafetyMatcher()
PREVIOUS_WITHIN = timedelta(minutes=10)
CRISIS_REASON = "Crisis words in a text; call them now (number on the dashboard)"


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


def previous_text(session: Session, message: Any, now: datetime) -> str | None:
    """Return the same number's previous inbound text of the last 10 minutes, if any."""
    return session.scalar(
        select(Message.body).where(Message.phone == message.phone, Message.direction == INBOUND,
                                   Message.id < message.id,
                                   Message.created_at >= now - PREVIOUS_WITHIN)
        .order_by(Message.id.desc()).limit(1))


def screen(session: Session, matcher: SafetyMatcher, message: Any, now: datetime) -> Verdict:
    """Screen `message` read after the same number's previous text (SPEC §10)."""
    return matcher.screen(message.body or "", previous=previous_text(session, message, now))


def _crisis(session: Session, services: Services, matcher: SafetyMatcher, participant: Participant,
            message: Any, now: datetime) -> list[str]:
    log.warning("crisis language from participant %s (message %s)", participant.id, message.id)
    alerted = alert_once(session, services, kind="crisis", phone=participant.phone, now=now,
                         reason=CRISIS_REASON, participant=participant, message_id=message.id)
    concern.upgrade(session, participant.id, alerted.escalation.id, now)
    end_active_runs(session, participant.id, now, cancel_texts="run ended by a crisis")
    return [with_who_was_told(matcher.reply, alerted.coach_texted, alerted.staff_texted)]


def handle_if_crisis(
    session: Session, services: Services, participant: Any, message: Any, now: datetime,
    verdict: Verdict | None = None,
) -> list[str] | None:
    """Return the safety replies for a participant's text (alerts recorded), else None.

    Safety texts are crisis, concern, and the answer to an open concern question.
    """
    matcher = safe_matcher(services)
    if verdict is None:
        verdict = screen(session, matcher, message, now)
    if verdict.tier is Tier.CRISIS:
        return _crisis(session, services, matcher, participant, message, now)
    if verdict.tier is Tier.CONCERN:
        if not concern.ask(session, participant, message.id, now):
            return None  # asked once: the question is still open
        log.warning("concern language from participant %s (message %s)", participant.id,
                    message.id)
        return [matcher.concern_reply]
    answer = parse_yesno(message.body or "")
    if not answer.ok:
        return None
    question = concern.open_question(session, participant.id, now)
    if question is None:
        return None
    if answer.value:
        return _crisis(session, services, matcher, participant, message, now)
    concern.answered_no(session, services, question, now)
    return [matcher.concern_no_reply]


def handle_other_crisis(session: Session, services: Services, message: Any, now: datetime,
                        sender: str, verdict: Verdict | None = None) -> list[str] | None:
    """Return the safety replies for a text from a non-participant (staff told), else None.

    `sender` says who texted, for staff: "a number not enrolled", "coach Alex (#3)".
    """
    matcher = safe_matcher(services)
    if verdict is None:
        verdict = screen(session, matcher, message, now)
    tier = verdict.tier
    if tier is Tier.NONE:
        answer = parse_yesno(message.body or "")
        if not answer.ok or is_command(message.body) \
                or recent_escalation(session, "concern", message.phone, now) is None:
            return None
        if not answer.value:
            return [matcher.concern_no_reply]
        tier = Tier.CRISIS  # YES to the concern question
    urgent = tier is Tier.CRISIS
    log.warning("%s language from a non-participant at %s (message %s)", tier,
                mask(message.phone), message.id)
    alerted = alert_once(session, services, kind=str(tier), phone=message.phone, now=now,
                         sender=sender, message_id=message.id, urgent=urgent)
    audit(session, f"{tier}.not_participant", now, target_type="message", target_id=message.id,
          sender=sender[:80], escalation=alerted.escalation.id, repeat=not alerted.new)
    if not urgent:
        return [matcher.concern_reply]
    return [with_who_was_told(matcher.reply, False, alerted.staff_texted)]
