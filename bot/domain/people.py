"""Enrol coaches, staff and participants (used by the CLI and the dashboard)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from bot.core.db import insert_once
from bot.core.durations import is_zone
from bot.core.phones import PhoneError, to_e164
from bot.core.textclean import has_control
from bot.domain.audit import audit
from bot.domain.program_arc import Status
from bot.models import Coach, ConsentEvent, Participant


class EnrolmentError(ValueError):
    """An enrolment was refused; the message says why in one line."""


NAME_MAX = 120  # coaches.name, participants.name
USERNAME_MAX = 80  # coaches.username


def _check_name(name: str) -> None:
    if not name.strip():
        raise EnrolmentError("a name is required")
    if has_control(name):
        raise EnrolmentError("the name holds a control character; type it again")
    if len(name.strip()) > NAME_MAX:
        raise EnrolmentError(f"the name is too long: at most {NAME_MAX} characters")


def _phone(raw: str) -> str:
    try:
        return to_e164(raw)
    except PhoneError as exc:
        raise EnrolmentError(str(exc)) from None


def check_timezone(name: str) -> str:
    """Return `name` if it is an IANA zone, else raise EnrolmentError."""
    if not is_zone(name):
        raise EnrolmentError(f"unknown time zone {name!r}; use a name like America/Chicago")
    return name


def _insert(session: Session, row: Coach | Participant, refusal: str) -> None:
    """Insert `row`; a unique phone or username taken meanwhile is a refusal, not a crash."""
    if not insert_once(session, row):
        raise EnrolmentError(refusal)


def _phone_taken(session: Session, phone: str) -> bool:
    return bool(
        session.scalar(select(Coach.id).where(Coach.phone == phone))
        or session.scalar(select(Participant.id).where(Participant.phone == phone))
    )


def add_coach(
    session: Session, *, name: str, phone: str | None, now: datetime, role: str = "coach",
    username: str | None = None, password: str | None = None, timezone: str = "America/New_York",
    actor: str = "cli",
) -> Coach:
    """Create a coach (or staff member); raise EnrolmentError on a bad or duplicate field."""
    _check_name(name)
    e164 = _phone(phone) if phone else None
    if role == "coach" and e164 is None:
        raise EnrolmentError("a coach needs a phone number")
    if e164 and _phone_taken(session, e164):
        raise EnrolmentError(f"phone number {e164} is already enrolled")
    if username and has_control(username):
        raise EnrolmentError("the username holds a control character; type it again")
    if username and len(username) > USERNAME_MAX:
        raise EnrolmentError(f"the username is too long: at most {USERNAME_MAX} characters")
    if username and session.scalar(select(Coach.id).where(Coach.username == username)):
        raise EnrolmentError(f"username {username!r} is taken")
    if password is not None and len(password) < 8:
        raise EnrolmentError("the password must have at least 8 characters")
    coach = Coach(
        name=name.strip(), phone=e164, role=role, username=username,
        password_hash=generate_password_hash(password) if password else None,
        timezone=check_timezone(timezone), created_at=now,
    )
    _insert(session, coach, f"phone number {e164} or username {username!r} is already taken"
            if username else f"phone number {e164} is already enrolled")
    audit(session, f"{role}.add", now, via=actor, target_type="coach", target_id=coach.id)
    return coach


def find_coach_by_phone(session: Session, raw: str) -> Coach:
    """Return the coach with phone `raw`, or raise EnrolmentError."""
    phone = _phone(raw)
    coach = session.scalar(select(Coach).where(Coach.phone == phone, Coach.role == "coach"))
    if coach is None:
        raise EnrolmentError(f"no coach has phone number {phone}")
    return coach


def _check_enrolled(session: Session, enrolled_at: datetime, now: datetime) -> datetime:
    if enrolled_at > now:
        raise EnrolmentError(f"the enrolment date {enrolled_at:%Y-%m-%d} is in the future")
    first = session.scalar(select(func.min(Coach.created_at)))
    if first is None or enrolled_at < first:
        since = f"on {first:%Y-%m-%d}" if first else "yet"
        raise EnrolmentError(f"the enrolment date {enrolled_at:%Y-%m-%d} is before the program "
                             f"existed (its first coach was added {since})")
    return enrolled_at


def find_participant_by_phone(session: Session, raw: str) -> Participant:
    """Return the participant with phone `raw`, or raise EnrolmentError."""
    phone = _phone(raw)
    participant = session.scalar(select(Participant).where(Participant.phone == phone))
    if participant is None:
        raise EnrolmentError(f"no participant has phone number {phone}")
    return participant


def add_participant(
    session: Session, *, phone: str, name: str, coach: Coach, timezone: str, now: datetime,
    actor: str = "cli", length: timedelta | None = None, enrolled_at: datetime | None = None,
    consent_version: str | None = None,
) -> Participant:
    """Enrol a participant with a coach, recording the consent version and time.

    Raise EnrolmentError on a bad or duplicate field. `length` is the program's
    length ([program] length); without it the arc job sets the end from the
    configured length the first time it sees the participant. `enrolled_at`
    back-dates the program's start (enrolled on paper first); it may not be in
    the future, nor before the program's first coach was added.
    """
    _check_name(name)
    start = _check_enrolled(session, enrolled_at, now) if enrolled_at is not None else now
    e164 = _phone(phone)
    if _phone_taken(session, e164):
        raise EnrolmentError(f"phone number {e164} is already enrolled")
    participant = Participant(
        phone=e164, name=name.strip(), coach_id=coach.id, timezone=check_timezone(timezone),
        status=Status.ACTIVE, strategies=[], fields={}, enrolled_at=start,
        program_end_at=start + length if length is not None else None,
        consent_version=(consent_version or "").strip()[:40] or None, consented_at=now,
    )
    _insert(session, participant, f"phone number {e164} is already enrolled")
    session.add(ConsentEvent(participant_id=participant.id, kind="enrolled", method=actor,
                             version=participant.consent_version, created_at=now))
    audit(session, "participant.add", now, via=actor, target_type="participant",
          target_id=participant.id)
    return participant
