"""Typed SQLAlchemy 2 models: the whole schema, for every part of PeerLine.

Rules:
- Every time is stored as UTC (`UTCDateTime` returns aware datetimes on every
  backend).
- Phone numbers are E.164; they live only in `coaches.phone`,
  `participants.phone` and the `phone` of a message (the other party, needed
  for unknown numbers and staff alerts). Exports use ids.
- Uniqueness does the idempotency work: `messages.sid`, `escalations.event_key`,
  `nudges.event_key`, `once_marks.key`, `outbox.message_id`.
- Import every name from `bot.models`. Its modules are imported below in the schema's
  table order, so `Base.metadata` (Alembic's target) is whole and in the same order
  whichever name is imported first.
"""

from __future__ import annotations

# In the order the single bot/models.py defined the tables (coaches first, contacts last),
# so Base.metadata.tables keeps the order it had.
# isort: off
from bot.models.base import NAMING, Base, UTCDateTime
from bot.models.people import Coach, ConsentEvent, Participant
from bot.models.messages import INBOUND, OUTBOUND, Message
from bot.models.runs import PEG_ANSWER, CheckinAnswer, Run
from bot.models.outbox import Outbox
from bot.models.escalations import Concern, Escalation, EscalationNote, Nudge
from bot.models.records import AuditLog, LoginFailure, OnceMark, SchedulerState
from bot.models.coaching import Contact, InboxItem
# isort: on

__all__ = [
    "INBOUND", "NAMING", "OUTBOUND", "PEG_ANSWER", "AuditLog", "Base", "CheckinAnswer",
    "Coach", "Concern", "ConsentEvent", "Contact", "Escalation", "EscalationNote", "InboxItem",
    "LoginFailure", "Message", "Nudge", "OnceMark", "Outbox", "Participant", "Run",
    "SchedulerState", "UTCDateTime",
]
