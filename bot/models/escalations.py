"""What a human must see or decide: escalations and their notes, concerns, drafted nudges.

Rules:
- `escalations.event_key` and `nudges.event_key` are unique: one alert, one draft per event.
- An escalation about a number that is not enrolled has no participant; `phone` says who.
- A nudge's SMS EDIT text is sent only once confirmed on the dashboard.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.base import Base

if TYPE_CHECKING:  # the relationships name the class; SQLAlchemy resolves it by name
    from bot.models.people import Participant


class Escalation(Base):
    """Something a human must look at: a crisis, silence, a flow's `escalate`."""

    __tablename__ = "escalations"
    # Open alerts are few among many closed ones: the dashboard reads them by veteran.
    __table_args__ = (Index("ix_escalations_open", "participant_id", "created_at",
                            postgresql_where=text("resolved_at IS NULL"),
                            sqlite_where=text("resolved_at IS NULL")),)
    id: Mapped[int] = mapped_column(primary_key=True)
    # None for a number that is not enrolled (or a coach's own crisis): then `phone` says who.
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), index=True)
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # crisis | concern | flow | coach_request
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)  # who texted (crisis)
    # Texts from `phone` counted on this alert (repeats within 30 minutes add here).
    texts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    last_text_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(Text)
    event_key: Mapped[str] = mapped_column(String(120), unique=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    created_at: Mapped[datetime]
    coach_notified_at: Mapped[datetime | None]
    staff_notified_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"))
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"))

    participant: Mapped[Participant | None] = relationship()


class Concern(Base):
    """A concern-tier text and the direct question it asked (states: concern.ConcernState)."""

    __tablename__ = "concerns"
    __table_args__ = (Index("ix_concerns_state_due_at", "state", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    state: Mapped[str] = mapped_column(String(10), default="asked")
    asked_at: Mapped[datetime]
    due_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))


class EscalationNote(Base):
    """A coach's or staff member's note on an escalation."""

    __tablename__ = "escalation_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("coaches.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Nudge(Base):
    """A drafted message waiting for its coach's approval."""

    __tablename__ = "nudges"
    __table_args__ = (Index("ix_nudges_status_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    coach_id: Mapped[int] = mapped_column(ForeignKey("coaches.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    original_body: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(120))  # flow:step or schedule name
    event_key: Mapped[str] = mapped_column(String(160), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    # bot.domain.nudges.NudgeStatus: pending | approved | rejected | expired | sent | cancelled
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Text a coach sent with SMS EDIT: shown on the dashboard, sent only once confirmed there
    # (a sender number can be spoofed; the dashboard needs a password).
    sms_edit_body: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime]
    max_lateness_seconds: Mapped[int] = mapped_column(Integer, default=12 * 3600)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"))
    decided_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    created_at: Mapped[datetime]

    participant: Mapped[Participant] = relationship()
