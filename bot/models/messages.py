"""Every SMS in or out, with the TwiML reply an inbound one got.

Rules:
- `messages.sid` is unique: a Twilio MessageSid is stored once.
- `phone` is the other party (needed for unknown numbers and staff alerts).
- Statements run per text compare `direction` with INBOUND / OUTBOUND, not a bound string.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, literal_column, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnClause

from bot.models.base import Base

# `Message.direction == INBOUND`, not `== "in"`, in statements run per text: SQLite checks
# a bound value against the partial index ix_messages_unprocessed (WHERE direction = 'in')
# and compiles the statement again at every run (~0.13 ms of the joined read's ~0.15).
INBOUND: ColumnClause[str] = literal_column("'in'")
OUTBOUND: ColumnClause[str] = literal_column("'out'")


class Message(Base):
    """One SMS in or out; inbound rows also keep the TwiML reply they got."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_participant_created", "participant_id", "created_at"),
        # The same number's previous text, read with a new one by the safety screen.
        Index("ix_messages_phone_created", "phone", "created_at"),
        # Inbound messages whose processing never finished (a crash): small, for recovery.
        Index("ix_messages_unprocessed", "created_at",
              postgresql_where=text("direction = 'in' AND processed_at IS NULL"),
              sqlite_where=text("direction = 'in' AND processed_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"), index=True)
    phone: Mapped[str] = mapped_column(String(32))  # the other party
    body: Mapped[str] = mapped_column(Text, default="")
    num_media: Mapped[int] = mapped_column(Integer, default=0)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(24), default="reply")
    # in: participant | coach | unknown; out: reply | flow | crisis | alert | notify | nudge
    #     | compose | digest | coach_reply | system | inbox_notice | contact_due
    status: Mapped[str] = mapped_column(String(16), default="received")  # delivery.MessageStatus
    error_code: Mapped[int | None]
    flow_id: Mapped[str | None] = mapped_column(String(80))
    step_id: Mapped[str | None] = mapped_column(String(80))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    reply_twiml: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]
