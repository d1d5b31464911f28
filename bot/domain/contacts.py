"""The contact log and "contact due" (SPEC §11): human contacts between a coach and a veteran.

Rules:
- A contact is a call, visit, text or tried (an attempt that did not reach
  the veteran); it is logged by SMS (`LOG P3 call 20 note`), on the veteran's
  page, or written here when a coach's words are relayed (a `text`).
- "Last contact" means the last call, visit or text: never an automated
  text, never a `tried`.
- An active veteran is *contact due* when their last contact (or, with none, their
  enrolment) is `[program] contact_every` old or more; *overdue* at twice that.
- `Contact.kind` and `Contact.via` values belong to this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.config import Config
from bot.domain.program_arc import Status
from bot.flows.program_files import ProgramFileError, load_strategies
from bot.models import AuditLog, Coach, Contact, Participant

KINDS = ("call", "visit", "text", "tried")
REACHED = ("call", "visit", "text")  # the kinds that count as contact
MAX_MINUTES = 600
MAX_NOTE = 1000


class ContactError(ValueError):
    """A contact that cannot be logged; the message says why, for the coach."""


@dataclass(frozen=True)
class LogLine:
    """What `LOG P3 KIND [MINUTES] [note]` says after the veteran's id."""

    kind: str
    minutes: int | None
    note: str
    topics: list[str]


def parse_log(rest: str, library: dict[str, str]) -> LogLine:
    """Read `KIND [MINUTES] [note]`; topics are the note's comma-separated strategy names."""
    words = rest.strip().split(None, 1)
    if not words or words[0].lower().strip(".,:") not in KINDS:
        raise ContactError("Say what kind of contact: LOG 3 call 20 note "
                           "(call, visit, text or tried; minutes and note optional).")
    kind = words[0].lower().strip(".,:")
    rest = words[1] if len(words) > 1 else ""
    minutes = None
    parts = rest.split(None, 1)
    if parts and parts[0].rstrip("m").isdigit():
        minutes = int(parts[0].rstrip("m"))
        rest = parts[1] if len(parts) > 1 else ""
    if minutes is not None and minutes > MAX_MINUTES:
        raise ContactError(f"{minutes} minutes is more than {MAX_MINUTES}; "
                           "write the minutes as a number, e.g. LOG 3 call 20.")
    note = " ".join(rest.split())
    return LogLine(kind, minutes, note, topics_in(note, library))


def strategy_library(flows_dir: str) -> dict[str, str]:
    """Return the program's strategy names by id ({} when the library is missing or broken)."""
    try:
        return {ident: item.name for ident, item in load_strategies(flows_dir).items()}
    except (ProgramFileError, OSError):
        return {}


def topics_in(note: str, library: dict[str, str]) -> list[str]:
    """Return the strategy ids a note names (by id or name, between commas)."""
    by_word = {k.lower(): k for k in library} | {v.lower(): k for k, v in library.items()}
    found: list[str] = []
    for part in note.replace(";", ",").split(","):
        ident = by_word.get(part.strip().lower())
        if ident is not None and ident not in found:
            found.append(ident)
    return found


def log_contact(session: Session, coach: Coach, participant: Participant, *, kind: str,
                now: datetime, via: str, at: datetime | None = None, minutes: int | None = None,
                topics: Sequence[str] = (), note: str = "",
                message_id: int | None = None) -> Contact:
    """Record a contact by `coach` with `participant` (and audit it); return it."""
    if kind not in KINDS:
        raise ContactError(f"{kind!r} is not a kind of contact; use call, visit, text or tried.")
    if minutes is not None and not 0 <= minutes <= MAX_MINUTES:
        raise ContactError(f"Minutes must be between 0 and {MAX_MINUTES}.")
    when = at or now
    if when > now + timedelta(minutes=5):
        raise ContactError("That date is in the future; log a contact after it happened.")
    contact = Contact(participant_id=participant.id, coach_id=coach.id, kind=kind,
                      minutes=minutes, topics=list(topics), note=note[:MAX_NOTE], via=via,
                      message_id=message_id, contact_at=when, created_at=now)
    session.add(contact)
    session.flush()
    session.add(AuditLog(actor_id=coach.id, actor=f"{via}:coach:{coach.id}",
                         action="contact.log", target_type="participant",
                         target_id=participant.id,
                         detail={"contact": contact.id, "kind": kind}, created_at=now))
    return contact


def last_contacts(session: Session, participant_ids: Iterable[int]) -> dict[int, datetime]:
    """Return each participant's last call, visit or text (absent when there is none)."""
    ids = list(participant_ids)
    if not ids:
        return {}
    return dict(session.execute(
        select(Contact.participant_id, func.max(Contact.contact_at))
        .where(Contact.participant_id.in_(ids), Contact.kind.in_(REACHED))
        .group_by(Contact.participant_id)).all())


def history(session: Session, participant_id: int, limit: int = 50) -> list[Contact]:
    """Return a participant's contacts, newest first."""
    return list(session.scalars(select(Contact).where(Contact.participant_id == participant_id)
                                .order_by(Contact.contact_at.desc(), Contact.id.desc())
                                .limit(limit)))


def contact_every(config: Config) -> timedelta:
    """Return `[program] contact_every`."""
    return config.program.contact_every.delta


@dataclass(frozen=True)
class Due:
    """How a veteran stands against `contact_every`."""

    since: datetime  # the last contact, or enrolment when there is none
    age: timedelta
    due: bool
    overdue: bool
    period: int  # whole periods since `since`: 1 when first due, 2 when overdue, ...


def due_state(participant: Participant, last: datetime | None, every: timedelta,
              now: datetime) -> Due:
    """Return whether `participant` is contact due (or overdue) at `now`."""
    since = max(last, participant.enrolled_at) if last else participant.enrolled_at
    age = now - since
    period = int(age / every) if every else 0
    if participant.status != Status.ACTIVE:  # opted out, paused or done: nothing is due
        return Due(since, age, False, False, period)
    return Due(since, age, period >= 1, period >= 2, period)

