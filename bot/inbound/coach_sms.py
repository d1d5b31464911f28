"""Coach commands by SMS (SPEC §6.7, §11): QUEUE, OK, NO, EDIT, ACK, RESUME, TEXT, LOG, HELP.

Rules:
- A coach acts only on drafts and escalations of their own participants
  (staff on all); the ownership and state checks live in bot/domain/nudges.py and
  bot/domain/escalations.py, which also write the audit entries.
- Every answer is one short SMS a coach can read on a phone; mistakes get a
  plain sentence ("#12 is not one of yours"), anything else the usage line.
- A refused command changes nothing (it runs in a savepoint).
- ACK acknowledges; only staff resolve a crisis escalation (on the dashboard),
  so a coach's ACK of one asks for a note there.
- Crisis words in a coach's text are screened before any command (bot/inbound.py
  calls bot/crisis.py first); a valid command in the same text still runs.
- Caller ID can be spoofed, so nothing a text asks may put new words in a veteran's
  phone or lift a crisis pause: `EDIT` holds the new text for confirmation on the
  dashboard, and `RESUME` answers that resuming is done on the dashboard.
- An id is `#12` or `12` (drafts, alerts), `P3` or `3` (veterans); a command
  without one answers "Which one?". TEXT and LOG live in bot/inbound/coach_connect.py.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.core.ids import in_range
from bot.domain.access import coaches, may_act
from bot.domain.escalations import acknowledge, can_resolve
from bot.domain.nudges import (
    NudgeError,
    NudgeStatus,
    approve,
    get_for,
    hold_sms_edit,
    leaves_at,
    pending_for,
    reject,
)
from bot.inbound import coach_connect
from bot.models import Coach, Escalation, Nudge, Participant
from bot.services import Services

USAGE = ("Coach commands: QUEUE (drafts waiting), OK ID (send), NO ID (drop), "
         "EDIT ID new text (confirm on dashboard), ACK ID (escalation seen). HELP lists them all.")
# After the number, one separator (":", ".", ",", "-") before a space or a letter is dropped;
# anything else is the start of the coach's own words (":)", "-5", "...").
_COMMAND = re.compile(r"^\s*([A-Za-z]+)\s*(?:#?\s*[Pp]?(\d+))?(?:\s*[:.,-](?=\s|[^\W\d_]))?"
                      r"\s*(.*)$", re.DOTALL)
QUOTED = "(it quotes their words: read it on the dashboard)"
LINE_CHARS = 110  # a draft's text is trimmed to this in QUEUE
REPLY_CHARS = 306  # two SMS segments per reply
MAX_REPLIES = 3


def _trim(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _queue(session: Session, coach: Coach) -> list[str]:
    drafts = pending_for(session, coach)
    if not drafts:
        return ["No drafts are waiting for you."]
    names = {p.id: p.first_name for p in session.query(Participant).filter(
        Participant.id.in_({d.participant_id for d in drafts}))}
    quoted = coach_connect.quoting(session, drafts)  # a veteran's words stay off SMS
    lines = [f"#{d.id} {names.get(d.participant_id, '?')}: "
             f"{'(paused) ' if d.paused else ''}"
             f"{QUOTED if d.id in quoted else _trim(d.body, LINE_CHARS)}" for d in drafts]
    count = "1 draft" if len(drafts) == 1 else f"{len(drafts)} drafts"
    replies: list[str] = []
    current = f"{count} (reply OK ID, NO ID or EDIT ID text):"
    shown = 0
    for line in lines:
        if len(current) + 1 + len(line) > REPLY_CHARS:
            if len(replies) + 1 == MAX_REPLIES:
                break
            replies.append(current)
            current = line
        else:
            current = f"{current}\n{line}"
        shown += 1
    if shown < len(lines):
        current = f"{current}\n+{len(lines) - shown} more on the dashboard."
    replies.append(current)
    return replies


def _when(nudge: Nudge, participant: Participant, services: Services, now: datetime) -> str:
    due = leaves_at(nudge, services.config.program.quiet_hours, now)
    if due <= now:
        return "now"
    local = due.astimezone(ZoneInfo(participant.timezone))
    return f"{local:%a %H:%M} their time"


def _decide(session: Session, services: Services, coach: Coach, verb: str, number: int, rest: str,
            now: datetime) -> str:
    nudge = get_for(session, number, coach)
    participant = session.get(Participant, nudge.participant_id)
    assert participant is not None
    if verb == "NO":
        reject(session, nudge, coach, now, via="sms")
        return f"#{number} rejected; {participant.first_name} won't get it."
    if verb == "EDIT":
        if not rest.strip():
            raise NudgeError(f"Write the new text after the number: EDIT {number} your text")
        if hold_sms_edit(session, nudge, coach, now, rest):
            return f"#{number} edit saved, not sent. To send it, confirm it on the dashboard."
        done = "edited and approved"
    else:
        approve(session, nudge, coach, now, via="sms")
        done = "approved"
    if nudge.status == NudgeStatus.EXPIRED:
        return f"#{number} expired (too late to send); {participant.first_name} won't get it."
    return f"#{number} {done}; it goes to {participant.first_name} " \
           f"{_when(nudge, participant, services, now)}."


def _ack(session: Session, coach: Coach, number: int, now: datetime) -> str:
    escalation = session.get(Escalation, number, with_for_update=True) if in_range(number) else None
    if escalation is None:
        return f"There is no escalation #{number}."
    if not may_act(coach, escalation):
        return f"#{number} is not one of yours."
    if not acknowledge(session, escalation, coach, now, via="sms"):
        return f"#{number} was already acknowledged."
    if not can_resolve(coach, escalation):  # a crisis: staff resolve it
        return (f"Escalation #{number} acknowledged. Thank you. Please add a note on the "
                "dashboard saying what you did; staff will resolve it.")
    return f"Escalation #{number} acknowledged. Thank you."


def _resume(session: Session, coach: Coach, number: int, now: datetime) -> str:
    participant = session.get(Participant, number) if in_range(number) else None
    if participant is None:
        return f"There is no participant P{number}."
    if not coaches(coach, participant):
        return f"P{number} is not one of yours."
    if not participant.nudges_paused:
        return f"Nudges for {participant.first_name} (P{number}) are not paused."
    return (f"Nudges for {participant.first_name} (P{number}) stay paused after a crisis. "
            "To resume them, use the dashboard.")


LIST_VERBS = frozenset({"QUEUE", "Q", "LIST"})
ACTION_VERBS = frozenset({"OK", "NO", "EDIT", "ACK", "RESUME", "TEXT", "LOG"})
HELP_VERBS = frozenset({"HELP", "INFO", "COMMANDS"})
_EXAMPLES = {"EDIT": "EDIT 12 your text", "TEXT": "TEXT P3 your words", "LOG": "LOG P3 call 20",
             "RESUME": "RESUME P3"}


def is_command(text: str) -> bool:
    """Tell whether a coach's text is a command: QUEUE, or an action verb with a number."""
    match = _COMMAND.match(text or "")
    if match is None:
        return False
    verb = match.group(1).upper()
    return verb in LIST_VERBS or verb in HELP_VERBS or (verb in ACTION_VERBS
                                                       and match.group(2) is not None)


def handle_coach_message(
    session: Session, services: Services, coach: Coach, text: str, now: datetime
) -> list[str]:
    """Answer a text from a coach's own phone; return the reply texts."""
    match = _COMMAND.match(text or "")
    verb = match.group(1).upper() if match else ""
    if verb in LIST_VERBS:
        return _queue(session, coach)
    if verb in HELP_VERBS:
        return list(coach_connect.HELP)
    if verb not in ACTION_VERBS:
        return [USAGE]
    assert match is not None
    if match.group(2) is None:
        example = _EXAMPLES.get(verb, f"{verb} 12")
        return [f"Which one? Write {verb} and the number, e.g. {example}."]
    number, rest = int(match.group(2)), match.group(3)
    if verb == "TEXT":
        return [coach_connect.text_command(session, services, coach, number, rest, now)]
    if verb == "LOG":
        return [coach_connect.log_command(session, services, coach, number, rest, now)]
    if verb == "ACK":
        return [_ack(session, coach, number, now)]
    if verb == "RESUME":
        return [_resume(session, coach, number, now)]
    try:
        with session.begin_nested():
            return [_decide(session, services, coach, verb, number, rest, now)]
    except NudgeError as exc:
        return [str(exc)]
