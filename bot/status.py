"""Apply Twilio delivery statuses to stored messages, never moving backwards."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from bot.models import Message

log = logging.getLogger(__name__)

# Later states win; failed/undelivered are final like delivered.
STATUS_RANK = {
    "queued": 1,
    "accepted": 1,
    "scheduled": 1,
    "sending": 2,
    "sent": 3,
    "receiving": 3,
    "received": 3,
    "delivered": 4,
    "read": 5,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
}


def advances(old: str | None, new: str) -> bool:
    """Tell whether moving from `old` to `new` goes forwards."""
    if new not in STATUS_RANK:
        return False
    return STATUS_RANK.get(old or "", 0) < STATUS_RANK[new]


def apply_status(services: Any, sid: str, status: str, error_code: str | None) -> bool:
    """Update the message with Twilio sid `sid`; return whether anything changed."""
    now = services.clock.now()
    with services.db.session() as session:
        message = session.scalar(select(Message).where(Message.sid == sid).with_for_update())
        if message is None:
            log.info("status %s for unknown message sid", status)
            return False
        if not advances(message.status, status):
            return False
        message.status = status
        message.updated_at = now
        if error_code and error_code.isdigit():
            message.error_code = int(error_code)
        if status == "failed" and message.error_code == 21610 and message.participant_id:
            from bot.consent import opt_out

            opt_out(session, message.participant_id, method="twilio:21610", now=now)
        return True
