"""Apply Twilio delivery statuses to stored messages, never moving backwards."""

from __future__ import annotations

import logging

from sqlalchemy import select

from bot.inbound.consent import opt_out
from bot.models import Message
from bot.outbox.delivery import MessageStatus, advances
from bot.services import Services

log = logging.getLogger(__name__)
OPTED_OUT = 21610  # Twilio: the recipient has opted out

def _error_code(raw: str | None) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def apply_status(services: Services, sid: str, status: str, error_code: str | None,
                 message_id: int | None = None) -> bool:
    """Update the message with Twilio sid `sid`; return whether anything changed.

    `message_id` comes from the callback URL the sender gave Twilio (`?m=ID`): a
    status can arrive before the sender has stored the sid Twilio returned, and
    then it finds the message by id (and stores the sid) if that message has no
    other sid. A failed or undelivered status with error 21610 (the number has
    opted out with the carrier) opts the participant out, even when the status
    itself does not move (callbacks can repeat or come out of order).
    """
    now = services.clock.now()
    code = _error_code(error_code)
    with services.db.session() as session:
        message = session.scalar(select(Message).where(Message.sid == sid).with_for_update())
        if message is None and message_id is not None:
            early = session.get(Message, message_id, with_for_update=True)
            if early is not None and early.direction == "out" and early.sid in (None, sid):
                message = early
                message.sid = sid  # ahead of the sender's own write of the same sid
        if message is None:
            log.info("status %s for unknown message sid", status)
            return False
        changed = False
        if advances(message.status, status):
            message.status = status
            message.updated_at = now
            if code is not None:
                message.error_code = code
            changed = True
        if (code == OPTED_OUT and status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED)
                and message.direction == "out" and message.participant_id):

            if opt_out(session, message.participant_id, method="twilio:21610", now=now,
                       message_id=message.id):
                log.info("participant %s opted out by the carrier (21610)",
                         message.participant_id)
                changed = True
        return changed
