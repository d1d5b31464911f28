"""A coach's inbox of their veterans' texts, and the contacts logged between them.

Rules:
- `inbox_items.message_id` is unique: a text reaches the inbox once.
- A contact is a human one (call, visit, text, tried) logged by SMS or on the web, or a relay.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.base import Base

if TYPE_CHECKING:  # the relationships name the classes; SQLAlchemy resolves them by name
    from bot.models.messages import Message
    from bot.models.people import Participant


class InboxItem(Base):
    """A veteran's text that reached the coach's inbox (it reached `fallback`); read or unread."""

    __tablename__ = "inbox_items"
    __table_args__ = (
        Index("ix_inbox_items_coach_read", "coach_id", "read_at"),
        Index("ix_inbox_items_participant_created", "participant_id", "created_at"),
        # The inbox pages, newest first: a coach's, and staff's of everyone.
        Index("ix_inbox_items_coach_created", "coach_id", "created_at"),
        Index("ix_inbox_items_created", "created_at"),
        # Unread words per veteran (the home page's order) and staff's unread count.
        Index("ix_inbox_items_unread", "participant_id",
              postgresql_where=text("read_at IS NULL"), sqlite_where=text("read_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    coach_id: Mapped[int] = mapped_column(ForeignKey("coaches.id"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    notified_at: Mapped[datetime | None]  # when the coach was texted a notice for it
    read_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    message: Mapped[Message] = relationship()
    participant: Mapped[Participant] = relationship()


class Contact(Base):
    """A human contact between a coach and their veteran: logged, or a relayed text."""

    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_participant_at", "participant_id", "contact_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    coach_id: Mapped[int] = mapped_column(ForeignKey("coaches.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # call | visit | text | tried
    minutes: Mapped[int | None]
    topics: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    via: Mapped[str] = mapped_column(String(8))  # sms | web | relay
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    contact_at: Mapped[datetime]
    created_at: Mapped[datetime]
