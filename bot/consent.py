"""Opt participants out and back in, and record withdrawal, with how and when.

Rules:
- The consent states of `participants.status` belong here: `opted_out` (the
  veteran texted STOP; START undoes it) and `withdrawn` (staff recorded that the
  veteran left the program or study; no text undoes it). Both stop every text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.models import AuditLog, ConsentEvent, Message, Nudge, Outbox, Participant


class WithdrawalError(ValueError):
    """A withdrawal could not be recorded (a sentence staff can read)."""


def opt_out(
    session: Session, participant_id: int, *, method: str, now: datetime,
    message_id: int | None = None,
) -> bool:
    """Mark the participant opted out, end their conversation, cancel their unsent texts.

    Return False if they were opted out already. Ending the run quietly means no
    timeout of it fires later (no "no answer" escalation about someone who said stop).
    """
    participant = session.get(Participant, participant_id, with_for_update=True)
    if participant is None or participant.status == "opted_out":
        return False
    participant.status_before_opt_out = participant.status
    participant.status = "opted_out"
    session.add(ConsentEvent(participant_id=participant_id, kind="opt_out", method=method,
                             message_id=message_id, created_at=now))
    from bot.runtime import end_active_runs

    end_active_runs(session, participant_id, now)
    cancel_unsent(session, participant_id, now)
    return True


def opt_in(
    session: Session, participant_id: int, *, method: str, now: datetime,
    message_id: int | None = None,
) -> bool:
    """Opt an opted-out participant back in; return False if they were not opted out."""
    participant = session.get(Participant, participant_id, with_for_update=True)
    if participant is None or participant.status != "opted_out":
        return False
    participant.status = participant.status_before_opt_out or "active"
    if participant.status == "opted_out":
        participant.status = "active"
    participant.status_before_opt_out = None
    session.add(ConsentEvent(participant_id=participant_id, kind="opt_in", method=method,
                             message_id=message_id, created_at=now))
    return True


def withdraw(session: Session, participant_id: int, *, reason: str, actor: str,
             now: datetime, actor_id: int | None = None) -> Participant:
    """Record a withdrawal (staff action): texts stop, drafts are cancelled, reason kept."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise WithdrawalError("say why they withdrew (a short reason is kept for the record)")
    participant = session.get(Participant, participant_id, with_for_update=True)
    if participant is None:
        raise WithdrawalError(f"there is no participant P{participant_id}")
    if participant.status == "withdrawn":
        raise WithdrawalError(f"P{participant_id} already withdrew")
    participant.status = "withdrawn"
    participant.status_before_opt_out = None
    participant.withdrawn_at = now
    participant.withdrawal_reason = reason[:1000]
    session.add(ConsentEvent(participant_id=participant_id, kind="withdrawn",
                             method=actor[:40], created_at=now))
    session.add(AuditLog(actor_id=actor_id, actor=actor, action="participant.withdraw",
                         target_type="participant", target_id=participant_id,
                         detail={"reason": reason[:200]}, created_at=now))
    from bot.runtime import end_active_runs  # bot.runtime imports this module

    end_active_runs(session, participant_id, now)
    session.execute(update(Nudge).where(Nudge.participant_id == participant_id,
                                        Nudge.status.in_(("pending", "approved")))
                    .values(status="cancelled", decided_at=now))
    cancel_unsent(session, participant_id, now)
    return participant


def cancel_unsent(session: Session, participant_id: int, now: datetime) -> None:
    """Cancel every pending outbox row addressed to the participant."""
    ids = (
        session.query(Outbox.id)
        .join(Message, Message.id == Outbox.message_id)
        .filter(Message.participant_id == participant_id, Outbox.to_participant.is_(True),
                Outbox.state.in_(("pending", "held")))
        .all()
    )
    row_ids = [row.id for row in ids]
    if not row_ids:
        return
    session.execute(
        update(Outbox).where(Outbox.id.in_(row_ids))
        .values(state="cancelled", last_error="opted out or withdrew", finished_at=now)
    )
    session.execute(
        update(Message).where(Message.id.in_(
            session.query(Outbox.message_id).filter(Outbox.id.in_(row_ids)).scalar_subquery()
        )).values(status="canceled", updated_at=now)
    )
