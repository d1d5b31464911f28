"""The order of a message's delivery statuses, which never move backwards.

Rules:
- Twilio's status callbacks (bot/web/status.py) and the sender's own writes
  (bot/sending/sender.py) both move `Message.status` only forwards.
"""

from __future__ import annotations

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
