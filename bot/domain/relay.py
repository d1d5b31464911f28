"""A coach's own words to their veteran through the program number (SPEC §11).

Rules:
- `TEXT P3 words` by SMS and the compose box on the veteran's page both come
  here: the words go out from the program number (kind `compose`), signed
  with the coach's first name; the coach's own number never appears.
- Refused, with nothing sent: someone else's veteran or an unknown id ("P9 is
  not one of yours"), no words, more than 3 SMS segments (the length is
  said), an opted-out veteran (and why).
- Phone punctuation (smart quotes, "…", long dashes) becomes plain GSM-7
  before counting, so 150 characters stay one segment.
- The veteran's quiet hours apply (the sender holds the text); a relayed text
  is logged as a `text` contact, and opens the 48-hour window in which the
  veteran's replies go to the coach's inbox (bot/inbox.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.core.durations import quiet_hours_end
from bot.domain.contacts import log_contact
from bot.models import AuditLog, Coach, Participant
from bot.outbox.queue import queue_message
from bot.services import Services
from bot.sms import segments_for

MAX_SEGMENTS = 3
_PLAIN = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "-", "\u2012": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u00a0": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ", "\u2007": " ",
    "\u200b": "", "\ufeff": "",
})


class RelayError(ValueError):
    """A relay that was refused; the message says why, for the coach. Nothing was sent."""


def plain_gsm(text: str) -> str:
    """Return `text` with phone punctuation as plain GSM-7 ('...' for the ellipsis)."""
    return text.translate(_PLAIN).replace("\u2026", "...")


def signed(words: str, coach: Coach) -> str:
    """Return the text as the veteran gets it: the coach's words and first name."""
    return f"{words} -{coach.first_name}"


def own_veteran(session: Session, coach: Coach, participant_id: int) -> Participant:
    """Return the veteran `coach` may act for; else raise "P9 is not one of yours"."""
    participant = session.get(Participant, participant_id)
    if participant is None or (coach.role != "staff" and participant.coach_id != coach.id):
        raise RelayError(f"P{participant_id} is not one of yours. Nothing was sent.")
    return participant


@dataclass(frozen=True)
class Relayed:
    """A queued relay: the message id and when it leaves (the veteran's quiet hours)."""

    message_id: int
    leaves: datetime
    participant: Participant


def relay(session: Session, services: Services, coach: Coach, participant_id: int, words: str,
          now: datetime, *, via: str) -> Relayed:
    """Queue `coach`'s words to their veteran; raise RelayError when refused."""
    participant = own_veteran(session, coach, participant_id)
    first, pid = participant.first_name, participant.id
    words = plain_gsm(words).strip()
    if not words:
        raise RelayError(f"What should {first} read? Write it after the number: "
                         f"TEXT P{pid} your words")
    if participant.opted_out:
        raise RelayError(f"{first} (P{pid}) texted STOP and gets no texts, so nothing was "
                         f"sent. If {first} texts START, you can write again.")
    body = signed(words, coach)
    segments = segments_for(body)
    if segments > MAX_SEGMENTS:
        raise RelayError(f"That is {len(body)} characters ({segments} texts); keep it to "
                         f"{MAX_SEGMENTS} texts (about {MAX_SEGMENTS * 150} characters). "
                         "Nothing was sent.")
    message = queue_message(session, phone=participant.phone, body=body, kind="compose",
                            now=now, participant=participant, coach_id=coach.id)
    log_contact(session, coach, participant, kind="text", now=now, via="relay",
                message_id=message.id)
    session.add(AuditLog(actor_id=coach.id, actor=f"{via}:coach:{coach.id}",
                         action="message.compose", target_type="participant", target_id=pid,
                         detail={"message_id": message.id}, created_at=now))
    leaves = quiet_hours_end(services.config.program.quiet_hours, now,
                             participant.timezone)
    return Relayed(message.id, leaves, participant)
