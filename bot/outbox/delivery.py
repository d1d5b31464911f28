"""The states of an outgoing text: its outbox row and its message's delivery status.

Rules:
- `Outbox.state` is an OutboxState and `Message.status` a MessageStatus; code
  names them by these enums, never by bare strings (they compare equal to the
  stored text, so rows read back match).
- One word each: the outbox row is "cancelled"; the message takes Twilio's own
  status word "canceled". The dashboard shows both as "Not sent (cancelled)".
- Twilio's status callbacks (bot/web/status.py) and the sender's own writes
  (bot/sending/outcome.py) both move `Message.status` only forwards.
"""

from __future__ import annotations

from enum import StrEnum


class OutboxState(StrEnum):
    """Where an outbox row is: waiting, being sent, or finished."""

    PENDING = "pending"
    HELD = "held"  # nudges paused after a crisis: never claimed
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class MessageStatus(StrEnum):
    """A message's status: Twilio's words, plus ours for replies and texts not sent."""

    TWIML = "twiml"  # a reply that travelled in the webhook's answer
    RECEIVED = "received"
    RECEIVING = "receiving"  # Twilio's word while an inbound MMS is fetched
    ERROR = "error"  # an inbound text whose processing failed (its reply is empty)
    QUEUED = "queued"
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    EXPIRED = "expired"


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
