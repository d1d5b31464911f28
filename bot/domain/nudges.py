"""Draft, approve, edit, reject, pause and resume coach-approved nudges.

Rules (SPEC §6.7):
- A draft is *pending* until its participant's own coach (or staff) decides.
- Approving queues one outbox row due at the draft's time, with
  `not_after = due_at + max lateness`; the sender holds it through quiet
  hours, re-checks opt-out, and expires it when it is too late.
- A paused participant's (crisis) approved rows are *held* in the outbox and
  drafts cannot be approved until a coach or staff member resumes them.
- A pending draft past its lateness can no longer go: the nudge_drafts job
  expires it (hourly), so it leaves the coach's queue and digest count.
- New words sent by SMS (`EDIT`) are held in `sms_edit_body` and go out only when
  confirmed on the dashboard: a sender number can be spoofed, a password cannot.
- Errors are NudgeError with a sentence a coach can read on a phone.
- This module owns `nudges.status` (NudgeStatus); code names its values by
  the enum, never by bare strings.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.core.db import insert_new
from bot.core.durations import QuietHours, quiet_hours_end
from bot.core.ids import in_range
from bot.domain.access import may_act, only_theirs
from bot.domain.audit import audit
from bot.models import Coach, Message, Nudge, Outbox, Participant
from bot.outbox.delivery import OutboxState
from bot.outbox.queue import queue_message


class NudgeStatus(StrEnum):
    """The values of `nudges.status`: a draft's life, from the coach's queue to the phone."""

    PENDING = "pending"  # waiting for its coach
    APPROVED = "approved"  # queued in the outbox
    REJECTED = "rejected"
    EXPIRED = "expired"  # past its lateness, pending or approved
    SENT = "sent"  # the sender handed its text to the provider
    CANCELLED = "cancelled"  # the veteran opted out or withdrew (bot/inbound/consent.py)


WAITING = (NudgeStatus.PENDING, NudgeStatus.APPROVED)  # still to be decided or sent


class NudgeError(ValueError):
    """A coach's decision on a draft was refused; str() is the plain reason."""


def draft_row(participant: Participant, *, body: str, reason: str, source: str, event_key: str,
              due_at: datetime, now: datetime, max_lateness: timedelta) -> dict[str, Any]:
    """Return the columns of a new pending draft (draft_nudge and runtime/writer.py write it)."""
    return {"participant_id": participant.id, "coach_id": participant.coach_id, "body": body,
            "original_body": body, "reason": reason[:200], "source": source[:120],
            "event_key": event_key, "status": NudgeStatus.PENDING,
            "paused": participant.nudges_paused,
            "due_at": due_at, "max_lateness_seconds": int(max_lateness.total_seconds()),
            "created_at": now}


def draft_nudge(
    session: Session,
    participant: Participant,
    *,
    body: str,
    reason: str,
    source: str,
    event_key: str,
    due_at: datetime,
    now: datetime,
    max_lateness: timedelta = timedelta(hours=12),
) -> Nudge | None:
    """Add a pending draft to the coach's queue; None if `event_key` was drafted before."""
    new = insert_new(session, Nudge, [draft_row(participant, body=body, reason=reason,
                                                source=source, event_key=event_key,
                                                due_at=due_at, now=now,
                                                max_lateness=max_lateness)],
                     "event_key", returning="id")
    return session.get(Nudge, new[event_key]) if event_key in new else None


def leaves_at(nudge: Nudge, quiet_hours: QuietHours, now: datetime) -> datetime:
    """Return when `nudge`, approved now, would leave: its time, after the veteran's quiet hours."""
    return quiet_hours_end(quiet_hours, max(nudge.due_at, now), nudge.participant.timezone)


def get_for(session: Session, nudge_id: int, coach: Coach) -> Nudge:
    """Return draft `nudge_id` if `coach` may act on it, else raise NudgeError."""
    # populate_existing: a caller may have read the row before (unlocked); the locked read must
    # replace that state, or an approval committed in between is not seen and sends twice.
    nudge = (session.get(Nudge, nudge_id, with_for_update=True, populate_existing=True)
             if in_range(nudge_id) else None)
    if nudge is None:
        raise NudgeError(f"There is no draft #{nudge_id}.")
    if not may_act(coach, nudge):
        raise NudgeError(f"#{nudge_id} is not one of yours.")
    return nudge


def _check_pending(nudge: Nudge, *, allow_paused: bool = False) -> None:
    if nudge.status == NudgeStatus.PENDING:
        if nudge.paused and not allow_paused:
            raise NudgeError(f"#{nudge.id} is paused after a crisis alert. To send it, first "
                             f"text RESUME {nudge.participant_id} (or resume nudges on the "
                             f"veteran's page), then OK {nudge.id}.")
        return
    words: dict[str, str] = {
        NudgeStatus.APPROVED: "was already approved", NudgeStatus.SENT: "was already sent",
        NudgeStatus.REJECTED: "was already rejected",
        NudgeStatus.EXPIRED: "expired (too late to send)", NudgeStatus.CANCELLED: "was cancelled"}
    raise NudgeError(f"#{nudge.id} {words.get(nudge.status, 'is ' + nudge.status)}.")


def _audit(session: Session, coach: Coach, action: str, nudge: Nudge, now: datetime,
           via: str) -> None:
    audit(session, action, now, coach=coach, via=via, target_type="nudge", target_id=nudge.id)


def approve(session: Session, nudge: Nudge, coach: Coach, now: datetime, *,
            body: str | None = None, via: str = "web") -> Message | None:
    """Approve (optionally with new text) and queue the nudge; return its outbound message.

    A draft already past its lateness is marked expired instead and None is returned
    (nothing is queued), so the coach is told it will not go rather than "it goes now".
    """
    _check_pending(nudge)
    not_after = nudge.due_at + timedelta(seconds=nudge.max_lateness_seconds)
    if now > not_after:
        nudge.status = NudgeStatus.EXPIRED
        nudge.decided_by_id = coach.id
        nudge.decided_at = now
        _audit(session, coach, "nudge.expire", nudge, now, via)
        return None
    if body is not None:
        body = body.strip()
        if not body:
            raise NudgeError("The new text is empty.")
        nudge.body = body[:1600]
    participant = session.get(Participant, nudge.participant_id)
    assert participant is not None
    if participant.opted_out:
        raise NudgeError(f"#{nudge.id} can't be sent: {participant.first_name} has opted out.")
    due = max(nudge.due_at, now)
    message = queue_message(
        session, phone=participant.phone, body=nudge.body, kind="nudge", now=now,
        participant=participant, coach_id=nudge.coach_id, due_at=due,
        not_after=not_after,
    )
    nudge.status = NudgeStatus.APPROVED
    nudge.sms_edit_body = None  # decided: a held SMS edit is either this text or dropped
    nudge.decided_by_id = coach.id
    nudge.decided_at = now
    nudge.message_id = message.id
    _audit(session, coach, "nudge.edit" if body is not None else "nudge.approve", nudge, now, via)
    return message


def hold_sms_edit(session: Session, nudge: Nudge, coach: Coach, now: datetime,
                  body: str) -> bool:
    """Keep `body` (from an SMS EDIT) for confirmation on the dashboard; False if expired.

    A draft already past its lateness is expired instead, as approve() would.
    """
    _check_pending(nudge)
    if now > nudge.due_at + timedelta(seconds=nudge.max_lateness_seconds):
        approve(session, nudge, coach, now, via="sms")  # marks it expired, queues nothing
        return False
    body = body.strip()
    if not body:
        raise NudgeError("The new text is empty.")
    nudge.sms_edit_body = body[:1600]
    _audit(session, coach, "nudge.sms_edit", nudge, now, "sms")
    return True


def reject(session: Session, nudge: Nudge, coach: Coach, now: datetime, via: str = "web") -> None:
    """Reject a pending draft (also while paused: dropping a draft is always safe)."""
    _check_pending(nudge, allow_paused=True)
    nudge.status = NudgeStatus.REJECTED
    nudge.decided_by_id = coach.id
    nudge.decided_at = now
    _audit(session, coach, "nudge.reject", nudge, now, via)


def pause_for_participant(session: Session, participant_id: int, now: datetime) -> None:
    """Pause the participant's pending drafts and hold their approved, unsent nudges."""
    session.execute(update(Participant).where(Participant.id == participant_id)
                    .values(nudges_paused=True))
    session.execute(update(Nudge).where(Nudge.participant_id == participant_id,
                                        Nudge.status.in_(WAITING))
                    .values(paused=True))
    held = select(Nudge.message_id).where(Nudge.participant_id == participant_id,
                                          Nudge.status == NudgeStatus.APPROVED,
                                          Nudge.message_id.is_not(None))
    session.execute(update(Outbox).where(Outbox.message_id.in_(held),
                                         Outbox.state == OutboxState.PENDING)
                    .values(state=OutboxState.HELD))


def resume_for_participant(session: Session, participant_id: int, coach: Coach,
                           now: datetime, via: str = "web") -> None:
    """Lift a crisis pause: drafts can be approved again and held nudges go out."""
    session.execute(update(Participant).where(Participant.id == participant_id)
                    .values(nudges_paused=False))
    session.execute(update(Nudge).where(Nudge.participant_id == participant_id)
                    .values(paused=False))
    held = select(Nudge.message_id).where(Nudge.participant_id == participant_id,
                                          Nudge.message_id.is_not(None))
    session.execute(update(Outbox).where(Outbox.message_id.in_(held),
                                         Outbox.state == OutboxState.HELD)
                    .values(state=OutboxState.PENDING))
    audit(session, "nudges.resume", now, coach=coach, via=via, target_type="participant",
          target_id=participant_id)


def pending_for(session: Session, coach: Coach) -> list[Nudge]:
    """Return the coach's pending drafts (all of them for staff), oldest first."""
    query = (select(Nudge).where(Nudge.status == NudgeStatus.PENDING)
             .order_by(Nudge.due_at, Nudge.id))
    return list(session.scalars(only_theirs(query, coach, Nudge.coach_id)))


def expire_stale_drafts(session: Session, now: datetime) -> int:
    """Mark pending drafts expired once they are past their lateness; return how many."""
    rows = session.execute(select(Nudge.id, Nudge.due_at, Nudge.max_lateness_seconds)
                           .where(Nudge.status == NudgeStatus.PENDING, Nudge.due_at < now)).all()
    stale = [nudge_id for nudge_id, due_at, lateness in rows
             if due_at + timedelta(seconds=lateness) < now]
    for start in range(0, len(stale), 500):
        session.execute(update(Nudge).where(Nudge.id.in_(stale[start:start + 500]),
                                            Nudge.status == NudgeStatus.PENDING)
                        .values(status=NudgeStatus.EXPIRED, decided_at=now)
                        .execution_options(synchronize_session=False))
    return len(stale)

