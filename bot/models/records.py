"""Bookkeeping: once-marks, login failures, scheduler liveness and the audit log.

Rules:
- `once_marks.key` is unique: a periodic job never does the same thing twice.
- Login failures are kept per client address and per typed username, for their limits.
- The audit log says who did what, when: logins, approvals, edits, views, exports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base


class OnceMark(Base):
    """A key recorded once, so a periodic job never does the same thing twice."""

    __tablename__ = "once_marks"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime]


class LoginFailure(Base):
    """A failed dashboard login from one client address, for the per-address limit."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_address_created", "address", "created_at"),
                      Index("ix_login_failures_username_created", "username", "created_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(64))
    username: Mapped[str | None] = mapped_column(String(80))  # as typed, known or not
    created_at: Mapped[datetime]


class SchedulerState(Base):
    """Liveness of the scheduler (and of each of its jobs) for /healthz and /metrics."""

    __tablename__ = "scheduler_state"
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(120))
    last_pass_at: Mapped[datetime | None]
    last_duration_ms: Mapped[int | None]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuditLog(Base):
    """Who did what, when: logins, approvals, edits, acknowledgements, exports."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"), index=True)
    actor: Mapped[str] = mapped_column(String(80))  # e.g. coach:3, sms:coach:3, cli, system
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[int | None]
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(index=True)
