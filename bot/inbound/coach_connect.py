"""Coach SMS commands for the connection (SPEC §11): TEXT, LOG and the full HELP.

Rules:
- `TEXT P3 words` relays the coach's words (bot/relay.py); `LOG P3 KIND
  [MINUTES] [note]` records a contact (bot/contacts.py). A veteran is `P3`
  or `3`; a draft or alert `#12` or `12` (bot/coach_sms.py reads the id).
- Someone else's veteran or an unknown id: "P9 is not one of yours", and
  nothing is sent or stored (the command runs in a savepoint).
- Answers carry names and ids, never a veteran's words; QUEUE shows a draft
  that quotes a veteran's saved answer only as a pointer to the dashboard.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.contacts import ContactError, log_contact, parse_log, strategy_library
from bot.domain.relay import RelayError, own_veteran, relay
from bot.models import CheckinAnswer, Coach, Nudge
from bot.services import Services

HELP = [
    "PeerLine coach commands (P3 or 3 = veteran, #12 or 12 = draft or alert): "
    "QUEUE = your drafts. OK 12 = send draft 12. NO 12 = drop it. "
    "EDIT 12 new text = change and send. ACK 12 = alert 12 seen.",
    "TEXT P3 your words = text veteran P3 from the program number, signed with your first "
    "name. LOG P3 call 20 note = record a contact (call, visit, text or tried; minutes and "
    "note optional).",
    "RESUME P3 = turn P3's nudges back on (after a crisis pause, on the dashboard). "
    "HELP = this list. In crisis: dial 988 then press 1.",
]


def quoting(session: Session, drafts: Iterable[Nudge]) -> set[int]:
    """Return the ids of drafts that quote a veteran's own saved words (kept off coach SMS).

    A flow may put an answer in a draft ("how's your plan going (walk 10 minutes)?");
    answers with letters, 4 characters or more, found in the draft's text count.
    """
    drafts = list(drafts)
    by_person: dict[int, list[str]] = {}
    for participant_id, value in session.execute(
            select(CheckinAnswer.participant_id, CheckinAnswer.value).where(
                CheckinAnswer.participant_id.in_({d.participant_id for d in drafts}))):
        words = " ".join(str(value).split()).lower()
        if len(words) >= 4 and any(ch.isalpha() for ch in words):
            by_person.setdefault(participant_id, []).append(words)
    return {d.id for d in drafts
            if any(words in " ".join(d.body.split()).lower()
                   for words in by_person.get(d.participant_id, []))}


def text_command(session: Session, services: Services, coach: Coach, number: int, words: str,
                 now: datetime) -> str:
    """Relay `words` to veteran `number`; return the answer to the coach."""
    try:
        with session.begin_nested():
            sent = relay(session, services, coach, number, words, now, via="sms")
    except RelayError as exc:
        return str(exc)
    first, pid = sent.participant.first_name, sent.participant.id
    if sent.leaves > now:
        local = sent.leaves.astimezone(ZoneInfo(sent.participant.timezone))
        return (f"Queued for {first} (P{pid}); it's quiet hours there, so it goes "
                f"{local:%a %H:%M} their time. Replies come to your inbox.")
    return f"Sent to {first} (P{pid}) from the program number. Replies come to your inbox."


def log_command(session: Session, services: Services, coach: Coach, number: int, rest: str,
                now: datetime) -> str:
    """Log a contact with veteran `number`; return the answer to the coach."""
    try:
        with session.begin_nested():
            participant = own_veteran(session, coach, number)
            line = parse_log(rest, strategy_library(str(services.config.flows.dir)))
            log_contact(session, coach, participant, kind=line.kind, now=now, via="sms",
                        minutes=line.minutes, topics=line.topics, note=line.note)
    except (RelayError, ContactError) as exc:
        return str(exc).replace(" Nothing was sent.", " Nothing was logged.")
    minutes = f", {line.minutes} min" if line.minutes is not None else ""
    return f"Logged: {line.kind}{minutes} with {participant.first_name} (P{participant.id})."
