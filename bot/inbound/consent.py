"""Opt participants out and back in, recording how and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.models import ConsentEvent, Message, Outbox, Participant
from bot.outbox.cancel import cancel_unsent
from bot.runtime.apply import end_active_runs


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
    if participant is None or participant.status != "opted_out":
        return False
    participant.status = participant.status_before_opt_out or "active"
    if participant.status == "opted_out":
        participant.status = "active"
    participant.status_before_opt_out = None
    session.add(ConsentEvent(participant_id=participant_id, kind="opt_in", method=method,
                             message_id=message_id, created_at=now))
    return True
