"""Open, acknowledge and resolve escalations; queue the texts they cause.

Rules (SPEC §6.3, §6.6, §10, §11):
- One escalation per event: `event_key` is unique, a repeat returns None.
- The coach is texted once, at once, with the escalation's `#ID`; quiet
  hours do not apply to escalation texts, except a `daytime` (not urgent)
  one, which waits for the end of `[program] quiet_hours` in the coach's
  time zone.
- An urgent (crisis) escalation also texts every `safety.staff_phones` at
  once and pauses the participant's unsent nudges.
- Alerts from one number within ALERT_WINDOW are one alert (`alert_once`):
  the first texts people; later ones within the window add to `texts` on
  the same open escalation and text nobody. A number that is not enrolled
  (or a coach) gets an escalation too, with no participant: staff only.
- Priority: an enrolled veteran's crisis alert goes before an unknown
  number's (bot/outbox.py), so a flood cannot hold a veteran's alert back.
- Texts to coaches and staff carry the minimum: first name, participant
  number, the reason; never the participant's message.
- Only staff resolve a crisis escalation; a coach acknowledges it and adds
  notes. Other kinds: the participant's coach or staff resolve them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.core.db import insert_new, insert_once
from bot.core.durations import quiet_hours_end
from bot.domain.access import is_staff, may_act
from bot.domain.audit import audit, audit_row
from bot.domain.coach_hours import coach_leaves
from bot.domain.nudges import pause_for_participant
from bot.models import AuditLog, Coach, Escalation, Participant
from bot.outbox.queue import (
    PRIORITY_ALERT,
    PRIORITY_CRISIS,
    PRIORITY_CRISIS_OTHER,
    QueuedText,
    queue_message,
    queue_messages_bulk,
)
from bot.services import Services

ALERT_WINDOW = timedelta(minutes=30)
STAFF_ONLY_KINDS = frozenset({"crisis"})  # kinds only staff may resolve


class NotAllowed(Exception):
    """The signed-in person may not do this to the escalation (the message says why)."""


@dataclass(frozen=True)
class Alerted:
    """What alert_once did: the escalation, whether it is new, and who has been texted."""

    escalation: Escalation
    new: bool
    coach_texted: bool
    staff_texted: bool


def daytime(services: Services, now: datetime, timezone: str) -> datetime:
    """Return `now`, or the end of `[program] quiet_hours` in `timezone` if inside them."""
    return quiet_hours_end(services.config.program.quiet_hours, now, timezone)


def _insert(session: Session, escalation: Escalation) -> bool:
    """Insert `escalation` in a savepoint; False if its event_key exists (a concurrent writer)."""
    if session.scalar(select(Escalation.id).where(Escalation.event_key == escalation.event_key)):
        return False
    return insert_once(session, escalation)


@dataclass(frozen=True)
class EscalationPlan:
    """An escalation to open: its row, and who is texted once it has its `#ID`.

    open_escalation writes one; the runtime's writer (bot/runtime/writer.py) writes
    many with one INSERT, then asks each new one for its texts and audit row.
    """

    row: dict[str, Any]
    participant: Participant
    coach: Coach | None
    text_coach: bool
    text_staff: bool

    @property
    def event_key(self) -> str:
        return str(self.row["event_key"])

    def texts(self, services: Services, escalation_id: int, now: datetime) -> list[QueuedText]:
        """Return the texts the new escalation `escalation_id` sends (coach, staff)."""
        participant, coach, urgent = self.participant, self.coach, bool(self.row["urgent"])
        reason = str(self.row["reason"])
        out: list[QueuedText] = []
        if self.text_coach and coach is not None and coach.phone:
            label = "URGENT" if urgent else "Escalation"
            out.append(QueuedText(
                phone=coach.phone, kind="alert", now=now, participant=None,
                body=f"PeerLine {label} #{escalation_id}: {participant.first_name} "
                     f"(P{participant.id}): {reason[:200]}. Reply ACK {escalation_id} when "
                     "you have it.",
                coach_id=coach.id, to_participant=False,
                respect_quiet_hours=not urgent,  # non-urgent: the coach's day (coach_hours.py)
                priority=PRIORITY_CRISIS if urgent else PRIORITY_ALERT, urgent=True))
        if self.text_staff:
            out += staff_texts(services, escalation_id, urgent, reason, participant,
                               self.row["phone"], now)
        return out

    def audit(self, escalation_id: int, now: datetime) -> dict[str, Any]:
        """Return the audit row of the opening."""
        return audit_row("escalation.open", now, target_type="escalation",
                         target_id=escalation_id, kind=self.row["kind"],
                         urgent=self.row["urgent"])


def plan_escalation(
    services: Services, participant: Participant, coach: Coach | None, *, kind: str, reason: str,
    event_key: str, now: datetime, urgent: bool = False, run_id: int | None = None,
    message_id: int | None = None, daytime_only: bool = False,
) -> EscalationPlan:
    """Return the escalation for `event_key` about `participant` (the rules of who is told).

    The coach is texted at once if urgent, else in the coach's day (coach_notified_at
    says when; staff_after counts from then). Staff are texted if urgent, or with
    `daytime_only` when the coach cannot be texted.
    """
    text_coach = coach is not None and bool(coach.phone) and coach.active
    coach_notified_at = None
    if text_coach and coach is not None:
        coach_notified_at = now if urgent else coach_leaves(services.config, coach.timezone, now)
    text_staff = urgent or (daytime_only and coach_notified_at is None)
    staff_notified_at = now if text_staff and services.config.safety.staff_phones else None
    row = {"participant_id": participant.id, "coach_id": participant.coach_id, "kind": kind,
           "urgent": urgent, "reason": reason[:1000], "event_key": event_key, "run_id": run_id,
           "message_id": message_id, "phone": participant.phone, "texts": 1,
           "last_text_at": now, "created_at": now, "coach_notified_at": coach_notified_at,
           "staff_notified_at": staff_notified_at}
    return EscalationPlan(row, participant, coach, text_coach, text_staff)


def open_escalation(
    session: Session,
    services: Services,
    participant: Participant,
    *,
    kind: str,
    reason: str,
    event_key: str,
    now: datetime,
    urgent: bool = False,
    run_id: int | None = None,
    message_id: int | None = None,
    daytime_only: bool = False,
) -> Escalation | None:
    """Create the escalation for `event_key` and queue its alerts; None if it already exists.

    A non-urgent text to the coach waits for the end of the coach's quiet hours (the
    sender holds it). `daytime_only` (never with `urgent`): staff are told instead, in
    their daytime, when the coach cannot be texted.
    """
    plan = plan_escalation(services, participant, session.get(Coach, participant.coach_id),
                           kind=kind, reason=reason, event_key=event_key, now=now,
                           urgent=urgent, run_id=run_id, message_id=message_id,
                           daytime_only=daytime_only)
    new = insert_new(session, Escalation, [plan.row], "event_key", returning="id")
    if event_key not in new:
        return None
    escalation_id = new[event_key]
    queue_messages_bulk(session, plan.texts(services, escalation_id, now))
    if urgent:
        pause_for_participant(session, participant.id, now)
    session.add(AuditLog(**plan.audit(escalation_id, now)))
    return session.get(Escalation, escalation_id)


def _open_for_number(session: Session, services: Services, *, kind: str, phone: str, sender: str,
                     event_key: str, message_id: int | None, now: datetime,
                     urgent: bool) -> Escalation | None:
    """Create an escalation about a number with no participant; staff are texted (once)."""
    what = "crisis words" if urgent else "worrying words"
    escalation = Escalation(
        participant_id=None, coach_id=None, kind=kind, urgent=urgent,
        reason=f"{what.capitalize()} in a text from {sender}"[:1000], event_key=event_key,
        message_id=message_id, phone=phone, texts=1, last_text_at=now, created_at=now,
    )
    if not _insert(session, escalation):
        return None
    label = "URGENT" if urgent else "Alert"
    action = "Call them now." if urgent else "Please reach out today."
    text = (f"PeerLine {label} #{escalation.id}: {what} in a text from {phone}, {sender} "
            f"(message #{message_id}). {action}")
    due = now if urgent else daytime(services, now, str(services.config.program.timezone))
    for staff_phone in services.config.safety.staff_phones:
        queue_message(session, phone=staff_phone, body=text, kind="alert", now=now, due_at=due,
                      participant=None, to_participant=False, respect_quiet_hours=False,
                      priority=PRIORITY_CRISIS_OTHER if urgent else PRIORITY_ALERT, urgent=True)
    if services.config.safety.staff_phones:
        escalation.staff_notified_at = now
    audit(session, "escalation.open", now, target_type="escalation", target_id=escalation.id,
          kind=kind, urgent=urgent, sender=sender[:80])
    return escalation


def recent_escalation(session: Session, kind: str, phone: str,
                      now: datetime) -> Escalation | None:
    """Return the open `kind` escalation about `phone` opened within ALERT_WINDOW, locked."""
    return session.scalar(
        select(Escalation).where(Escalation.phone == phone, Escalation.kind == kind,
                                 Escalation.resolved_at.is_(None),
                                 Escalation.created_at >= now - ALERT_WINDOW)
        .order_by(Escalation.id.desc()).limit(1).with_for_update())


def _repeat(session: Session, escalation: Escalation, now: datetime) -> Alerted:
    """Count one more text on `escalation`; text nobody."""
    session.execute(update(Escalation).where(Escalation.id == escalation.id)
                    .values(texts=Escalation.texts + 1, last_text_at=now))
    session.refresh(escalation)
    return Alerted(escalation, False, escalation.coach_notified_at is not None,
                   escalation.staff_notified_at is not None)


def alert_once(session: Session, services: Services, *, kind: str, phone: str, now: datetime,
               reason: str = "", participant: Participant | None = None, sender: str = "",
               message_id: int | None = None, urgent: bool = True,
               daytime_only: bool = False) -> Alerted:
    """Alert people about a text from `phone`, once per ALERT_WINDOW; count the repeats.

    With a `participant`, the coach (and staff if urgent) are texted as by
    open_escalation; without one, staff are texted with the number and `sender`.
    Concurrent texts from one number meet on the event key of their half hour.
    """
    def open_with(key: str) -> Escalation | None:
        if participant is not None:
            return open_escalation(session, services, participant, kind=kind, reason=reason,
                                   event_key=key, now=now, urgent=urgent, message_id=message_id,
                                   daytime_only=daytime_only)
        return _open_for_number(session, services, kind=kind, phone=phone, sender=sender,
                                event_key=key, message_id=message_id, now=now, urgent=urgent)

    half_hour = int(now.timestamp()) // int(ALERT_WINDOW.total_seconds())
    found = recent_escalation(session, kind, phone, now)
    opened = None if found else open_with(f"{kind}:{phone}:{half_hour}")
    if opened is None and found is None:
        # A concurrent text opened it first, or this half hour's alert was resolved already.
        found = recent_escalation(session, kind, phone, now)
        opened = None if found else open_with(f"{kind}:msg:{message_id}")
    if opened is not None:
        return Alerted(opened, True, opened.coach_notified_at is not None,
                       opened.staff_notified_at is not None)
    if found is None:  # this very message was alerted on already (a replay)
        found = session.scalar(select(Escalation).where(
            Escalation.event_key == f"{kind}:msg:{message_id}"))
        assert found is not None
        return Alerted(found, False, found.coach_notified_at is not None,
                       found.staff_notified_at is not None)
    return _repeat(session, found, now)


def notify_staff(
    session: Session, services: Services, escalation: Escalation, participant: Participant | None,
    now: datetime,
) -> int:
    """Text every staff phone about `escalation` (once); return how many texts were queued."""
    if escalation.staff_notified_at is not None:
        return 0
    texts = staff_texts(services, escalation.id, escalation.urgent, escalation.reason,
                        participant, escalation.phone, now)
    queue_messages_bulk(session, texts)
    if texts:
        escalation.staff_notified_at = now
    return len(texts)


def staff_texts(services: Services, escalation_id: int, urgent: bool, reason: str,
                participant: Participant | None, phone: str | None,
                now: datetime) -> list[QueuedText]:
    """Return the texts telling every staff phone about escalation `escalation_id`."""
    label = "URGENT" if urgent else "Unacknowledged"
    if participant is not None:
        who = f"{participant.first_name} (P{participant.id}) of coach #{participant.coach_id}"
    else:
        who = str(phone)
    text = f"PeerLine {label} #{escalation_id}: {who}: {reason[:200]}."
    return [QueuedText(phone=staff, body=text, kind="alert", now=now, participant=None,
                       to_participant=False, respect_quiet_hours=False,
                       priority=PRIORITY_CRISIS if urgent else PRIORITY_ALERT, urgent=True)
            for staff in services.config.safety.staff_phones]


def can_resolve(coach: Coach, escalation: Escalation) -> bool:
    """Tell whether `coach` may resolve `escalation` (a crisis: staff only)."""
    if escalation.kind in STAFF_ONLY_KINDS:
        return is_staff(coach)
    return may_act(coach, escalation)


def acknowledge(session: Session, escalation: Escalation, coach: Coach, now: datetime,
                via: str = "web") -> bool:
    """Mark `escalation` acknowledged by `coach`; return False if it already was."""
    if escalation.acknowledged_at is not None:
        return False
    escalation.acknowledged_at = now
    escalation.acknowledged_by_id = coach.id
    audit(session, "escalation.ack", now, coach=coach, via=via, target_type="escalation",
          target_id=escalation.id)
    return True


def resolve(session: Session, escalation: Escalation, coach: Coach, now: datetime) -> bool:
    """Mark `escalation` resolved (acknowledging it too); return False if it already was.

    Raises NotAllowed when a coach tries to resolve a crisis escalation (staff resolve those).
    """
    if escalation.resolved_at is not None:
        return False
    if not can_resolve(coach, escalation):
        raise NotAllowed("Only program staff resolve a crisis alert. Acknowledge it and add a "
                         "note saying what you did.")
    acknowledge(session, escalation, coach, now)
    escalation.resolved_at = now
    escalation.resolved_by_id = coach.id
    audit(session, "escalation.resolve", now, coach=coach, via="web", target_type="escalation",
          target_id=escalation.id)
    return True
