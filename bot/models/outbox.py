"""The durable outbox: one send order per outbound message.

Rules:
- `outbox.message_id` is unique: one send order per message.
- Priority 0 (a crisis) goes first; a row's states are bot.outbox.delivery.OutboxState.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.base import Base

if TYPE_CHECKING:  # the relationship names the class; SQLAlchemy resolves it by name
    from bot.models.messages import Message


class Outbox(Base):
    """A durable send order for one outbound message."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_due", "state", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    to_phone: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer, default=5)  # 0 = crisis, first
    state: Mapped[str] = mapped_column(String(10), default="pending")
    # bot.outbox.delivery.OutboxState: pending | claimed | sent | failed | cancelled | ...
    respect_quiet_hours: Mapped[bool] = mapped_column(Boolean, default=True)
    to_participant: Mapped[bool] = mapped_column(Boolean, default=True)
    due_at: Mapped[datetime]
    not_after: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    message: Mapped[Message] = relationship()
