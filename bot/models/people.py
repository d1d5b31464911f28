"""Coaches (and staff), the veterans they coach, and each veteran's consent events.

Rules:
- Phone numbers are E.164 and unique per coach and per participant; exports use ids.
- No text goes to a participant who opted out or withdrew (`Participant.opted_out`).
- A coach's `session_version` is bumped by logout: every session cookie of theirs stops working.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.models.base import Base


class Coach(Base):
    """A peer coach or a staff member (role), who may log in to the dashboard."""

    __tablename__ = "coaches"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    role: Mapped[str] = mapped_column(String(10), default="coach")  # coach | staff
    username: Mapped[str | None] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped by logout: every session cookie of the account stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    participants: Mapped[list[Participant]] = relationship(back_populates="coach")

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else self.name


class Participant(Base):
    """A veteran enrolled in the program."""

    __tablename__ = "participants"
    # The staff lists page through veterans by name (bot/dashboard); the program-arc job
    # (scheduler/arc.py) finds ends to fill and to reach, and each week's new veterans.
    __table_args__ = (Index("ix_participants_name", "name", "id"),
                      Index("ix_participants_program_end", "program_end_at"),
                      Index("ix_participants_status_enrolled", "status", "enrolled_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    coach_id: Mapped[int] = mapped_column(ForeignKey("coaches.id"), index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="active", index=True)
    # bot.domain.program_arc.Status: active | paused | opted_out | withdrawn | completed |
    # maintenance (consent.py moves the consent states, the arc completed and maintenance)
    status_before_opt_out: Mapped[str | None] = mapped_column(String(12))
    nudges_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    strategies: Mapped[list[Any]] = mapped_column(default=list)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enrolled_at: Mapped[datetime]
    # The program's end: enrolled_at + [program] length when enrolled; moved only by staff.
    program_end_at: Mapped[datetime | None]
    # The first complete PEG ({pain, enjoyment, activity, mean, at, week}); see bot.peg.
    peg_baseline: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    consent_version: Mapped[str | None] = mapped_column(String(40))
    consented_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]  # staff recorded a withdrawal: no more texts
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    last_inbound_at: Mapped[datetime | None]
    last_outbound_at: Mapped[datetime | None]

    coach: Mapped[Coach] = relationship(back_populates="participants")

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.split() else self.name

    @property
    def opted_out(self) -> bool:
        """Tell whether no text may go to them: they texted STOP, or they withdrew."""
        return self.status in ("opted_out", "withdrawn")


class ConsentEvent(Base):
    """An enrolment, opt-out or opt-in, with when and how it happened."""

    __tablename__ = "consent_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # enrolled | opt_out | opt_in | withdrawn
    version: Mapped[str | None] = mapped_column(String(40))  # consent version (enrolled)
    method: Mapped[str] = mapped_column(String(40))  # e.g. sms:STOP, twilio:21610, cli
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    created_at: Mapped[datetime]
