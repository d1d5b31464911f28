"""Typed SQLAlchemy 2 models: the whole schema, for every part of PeerLine.

Rules:
- Every time is stored as UTC (`UTCDateTime` returns aware datetimes on every
  backend).
- Phone numbers are E.164; they live only in `coaches.phone`,
  `participants.phone` and the `phone` of a message (the other party, needed
  for unknown numbers and staff alerts). Exports use ids.
- Uniqueness does the idempotency work: `messages.sid`, `escalations.event_key`,
  `nudges.event_key`, `once_marks.key`, `outbox.message_id`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnClause

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC; always hand back aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # combine: 5x faster than replace(tzinfo=UTC), same value
            return datetime.combine(value.date(), value.time(), UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


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


class Run(Base):
    """One participant's progress through one flow (the engine's RunState, stored)."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_participant_status", "participant_id", "status"),
        Index("ix_runs_status_timeout", "status", "timeout_at"),
        Index("ix_runs_status_expires", "status", "expires_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    flow_id: Mapped[str] = mapped_column(String(80))
    flow_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="active")  # runtime.states.RunStatus
    step: Mapped[str | None] = mapped_column(String(80))
    waiting: Mapped[bool] = mapped_column(Boolean, default=False)
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    wait_token: Mapped[str | None] = mapped_column(String(40))
    asked_at: Mapped[datetime | None]
    timeout_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    trigger: Mapped[str] = mapped_column(String(20), default="keyword")
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


# The PEG answers, every spelling of an item (bot.domain.peg.PEG_VARIABLES, which
# tests/test_fidelity_peg.py keeps equal): fidelity sums them run by run.
PEG_ANSWER = ("lower(variable) IN ("
              "'pain', 'pain_average', 'average_pain', 'enjoyment', 'enjoy', "
              "'enjoyment_of_life', 'interference_enjoyment', 'activity', 'general_activity', "
              "'activities', 'interference_activity', 'participant.pain', "
              "'participant.pain_average', 'participant.average_pain', 'participant.enjoyment', "
              "'participant.enjoy', 'participant.enjoyment_of_life', "
              "'participant.interference_enjoyment', 'participant.activity', "
              "'participant.general_activity', 'participant.activities', "
              "'participant.interference_activity', 'peg_pain', 'peg_pain_average', "
              "'peg_average_pain', 'peg_enjoyment', 'peg_enjoy', 'peg_enjoyment_of_life', "
              "'peg_interference_enjoyment', 'peg_activity', 'peg_general_activity', "
              "'peg_activities', 'peg_interference_activity', 'peg.pain', 'peg.pain_average', "
              "'peg.average_pain', 'peg.enjoyment', 'peg.enjoy', 'peg.enjoyment_of_life', "
              "'peg.interference_enjoyment', 'peg.activity', 'peg.general_activity', "
              "'peg.activities', 'peg.interference_activity'"
              ")")


class CheckinAnswer(Base):
    """A saved flow answer, for the research export."""

    __tablename__ = "checkin_answers"
    # A veteran's answers by time: the last check-in and the recent PEG weeks (dashboard);
    # PEG answers by run: each month's latest check-in (fidelity).
    __table_args__ = (Index("ix_checkin_answers_participant_answered", "participant_id",
                            "answered_at"),
                      Index("ix_checkin_answers_peg_runs", "participant_id", "run_id",
                            sqlite_where=text(PEG_ANSWER), postgresql_where=text(PEG_ANSWER)))
    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    flow_id: Mapped[str] = mapped_column(String(80))
    variable: Mapped[str] = mapped_column(String(80))
    value: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime | None]
    answered_at: Mapped[datetime]


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
