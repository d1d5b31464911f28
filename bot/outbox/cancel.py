"""Cancel texts that are still waiting in the outbox: the one place that does it.

Rules:
- Only pending or held rows are cancelled; a text being sent or sent stays as it is.
- The outbox row becomes "cancelled" with the reason as its last error, and its
  message "canceled" (Twilio's spelling of the message status), both at `now`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.models import Message, Outbox
from bot.outbox.delivery import MessageStatus, OutboxState

UNSENT = (OutboxState.PENDING, OutboxState.HELD)


def cancel_unsent(session: Session, now: datetime, reason: str, *where: Any) -> int:
    """Cancel the unsent texts whose Message/Outbox rows match `where`; return how many."""
    message_ids = list(session.scalars(
        select(Outbox.message_id).join(Message, Message.id == Outbox.message_id)
        .where(Outbox.state.in_(UNSENT), *where)))
    if not message_ids:
        return 0
    session.execute(update(Outbox).where(Outbox.message_id.in_(message_ids))
                    .values(state=OutboxState.CANCELLED, last_error=reason, finished_at=now))
    session.execute(update(Message).where(Message.id.in_(message_ids))
                    .values(status=MessageStatus.CANCELED, updated_at=now))
    return len(message_ids)
