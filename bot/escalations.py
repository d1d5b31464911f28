"""Open, acknowledge and resolve escalations; queue the texts they cause.

Rules (SPEC §6.3, §6.6):
- One escalation per event: `event_key` is unique, a repeat returns None.
- The coach is texted once, with the escalation's `#ID`: at once when urgent,
  else at the end of the coach's quiet hours (`coach_notified_at` says when).
- An urgent (crisis) escalation also texts every `safety.staff_phones` at
  once and pauses the participant's unsent nudges.
- Texts to coaches and staff carry the minimum: first name, participant
  number, the reason; never the participant's message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.coach_hours import coach_leaves
from bot.models import AuditLog, Coach, Escalation, Participant
from bot.outbox import PRIORITY_ALERT, PRIORITY_CRISIS, queue_message


def open_escalation(
    session: Session,
    services: Any,
    participant: Participant,
    *,
    kind: str,
    reason: str,
    event_key: str,
    now: datetime,
    urgent: bool = False,
    run_id: int | None = None,
    message_id: int | None = None,
) -> Escalation | None:
    """Create the escalation for `event_key` and queue its alerts; None if it already exists."""
    if session.scalar(select(Escalation.id).where(Escalation.event_key == event_key)):
        return None
    escalation = Escalation(
        participant_id=participant.id, coach_id=participant.coach_id, kind=kind, urgent=urgent,
        reason=reason[:1000], event_key=event_key, run_id=run_id, message_id=message_id,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(escalation)
            session.flush()
    except IntegrityError:
        return None  # a concurrent writer opened it first
    coach = session.get(Coach, participant.coach_id)
    label = "URGENT" if urgent else "Escalation"
    text = f"PeerLine {label} #{escalation.id}: {participant.first_name} (P{participant.id}): " \
           f"{reason[:200]}. Reply ACK {escalation.id} when you have it."
    if coach is not None and coach.phone and coach.active:
        queue_message(
            session, phone=coach.phone, body=text, kind="alert", now=now,
            participant=None, coach_id=coach.id, to_participant=False,
            respect_quiet_hours=not urgent,  # non-urgent: the coach's day (bot/coach_hours.py)
            priority=PRIORITY_CRISIS if urgent else PRIORITY_ALERT, urgent=True,
        )
        escalation.coach_notified_at = now if urgent else \
            coach_leaves(services.config, coach.timezone, now)
    if urgent:
        notify_staff(session, services, escalation, participant, now)
        from bot.nudges import pause_for_participant

        pause_for_participant(session, participant.id, now)
    session.add(AuditLog(actor="system", action="escalation.open", target_type="escalation",
                         target_id=escalation.id, detail={"kind": kind, "urgent": urgent},
                         created_at=now))
    return escalation


def notify_staff(
    session: Session, services: Any, escalation: Escalation, participant: Participant,
    now: datetime,
) -> int:
    """Text every staff phone about `escalation` (once); return how many texts were queued."""
    if escalation.staff_notified_at is not None:
        return 0
    phones = list(services.config.safety.staff_phones)
    label = "URGENT" if escalation.urgent else "Unacknowledged"
    text = f"PeerLine {label} #{escalation.id}: {participant.first_name} (P{participant.id}) " \
           f"of coach #{participant.coach_id}: {escalation.reason[:200]}."
    for phone in phones:
        queue_message(session, phone=phone, body=text, kind="alert", now=now, participant=None,
                      to_participant=False, respect_quiet_hours=False,
                      priority=PRIORITY_CRISIS if escalation.urgent else PRIORITY_ALERT,
                      urgent=True)
    escalation.staff_notified_at = now
    return len(phones)


def can_act(coach: Coach, escalation: Escalation) -> bool:
    """Tell whether `coach` may act on `escalation` (their own participant, or staff)."""
    return coach.role == "staff" or escalation.coach_id == coach.id


def acknowledge(session: Session, escalation: Escalation, coach: Coach, now: datetime,
                via: str = "web") -> bool:
    """Mark `escalation` acknowledged by `coach`; return False if it already was."""
    if escalation.acknowledged_at is not None:
        return False
    escalation.acknowledged_at = now
    escalation.acknowledged_by_id = coach.id
    session.add(AuditLog(actor_id=coach.id, actor=f"{via}:coach:{coach.id}",
                         action="escalation.ack", target_type="escalation",
                         target_id=escalation.id, created_at=now))
    return True


def resolve(session: Session, escalation: Escalation, coach: Coach, now: datetime) -> bool:
    """Mark `escalation` resolved (acknowledging it too); return False if it already was."""
    if escalation.resolved_at is not None:
        return False
    acknowledge(session, escalation, coach, now)
    escalation.resolved_at = now
    escalation.resolved_by_id = coach.id
    session.add(AuditLog(actor_id=coach.id, actor=f"web:coach:{coach.id}",
                         action="escalation.resolve", target_type="escalation",
                         target_id=escalation.id, created_at=now))
    return True
