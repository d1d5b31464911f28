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

from bot.domain.audit import audit
from bot.domain.nudges import WAITING, NudgeStatus
from bot.domain.program_arc import Status
from bot.models import ConsentEvent, Message, Nudge, Outbox, Participant
from bot.outbox.cancel import cancel_unsent
from bot.runtime.apply import end_active_runs


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
    if participant is None or participant.status == Status.OPTED_OUT:
        return False
    participant.status_before_opt_out = participant.status
    participant.status = Status.OPTED_OUT
    session.add(ConsentEvent(participant_id=participant_id, kind="opt_out", method=method,
                             message_id=message_id, created_at=now))

    end_active_runs(session, participant_id, now)
    cancel_unsent(session, now, "opted out", Message.participant_id == participant_id,
                  Outbox.to_participant.is_(True))
    return True


def opt_in(
    session: Session, participant_id: int, *, method: str, now: datetime,
    message_id: int | None = None,
) -> bool:
    """Opt an opted-out participant back in; return False if they were not opted out."""
    participant = session.get(Participant, participant_id, with_for_update=True)
    if participant is None or participant.status != Status.OPTED_OUT:
        return False
    participant.status = participant.status_before_opt_out or Status.ACTIVE
    if participant.status == Status.OPTED_OUT:
        participant.status = Status.ACTIVE
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
    if participant.status == Status.WITHDRAWN:
        raise WithdrawalError(f"P{participant_id} already withdrew")
    participant.status = Status.WITHDRAWN
    participant.status_before_opt_out = None
    participant.withdrawn_at = now
    participant.withdrawal_reason = reason[:1000]
    session.add(ConsentEvent(participant_id=participant_id, kind="withdrawn",
                             method=actor[:40], created_at=now))
    audit(session, "participant.withdraw", now, via=actor, actor_id=actor_id,
          target_type="participant", target_id=participant_id, reason=reason[:200])
    end_active_runs(session, participant_id, now)
    session.execute(update(Nudge).where(Nudge.participant_id == participant_id,
                                        Nudge.status.in_(WAITING))
                    .values(status=NudgeStatus.CANCELLED, decided_at=now))
    cancel_unsent(session, now, "withdrew", Message.participant_id == participant_id,
                  Outbox.to_participant.is_(True))
    return participant

