"""The concern tier (SPEC §10): indirect signs get the crisis line and one direct question.

A concern text from a participant opens a Concern row; this module owns its
`state` column (ConcernState):

    asked --YES, or a crisis text--> upgraded   (crisis path, bot/crisis.py)
    asked --NO-------------------> declined   (coach alerted, not urgent)
    asked --30 minutes, no answer-> silent     (coach alerted, not urgent; a scheduler job)

Rules:
- Asked once: while a question is open (asked, under 30 minutes old) a second
  concern text does not ask again; it is routed as usual.
- The answer takes precedence over a waiting flow step only while the
  question is open; afterwards "yes" and "no" are ordinary replies again.
- The coach's alert is not urgent: an escalation of kind `concern` whose
  text waits for the coach's daytime (`[program] quiet_hours` in the coach's
  time zone), the same day; staff are told instead when the coach cannot be
  texted. It carries no words, and fires once per concern (event key
  `concern:ID`), also when a tick and the scheduler race.
- Numbers that are not participants (unknown numbers, coaches) get no row:
  bot/crisis.py tells staff through a `concern` escalation on their number.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bot.domain.escalations import open_escalation
from bot.models import AuditLog, Concern, Participant, UTCDateTime
from bot.services import Services

ANSWER_WITHIN = timedelta(minutes=30)
REASON_NO = "Worrying words in a text; said NO when asked about suicide. Please reach out today"
REASON_SILENT = ("Worrying words in a text; no answer when asked about suicide. "
                 "Please reach out today")


class ConcernState(StrEnum):
    """Where a concern question stands."""

    ASKED = "asked"
    UPGRADED = "upgraded"
    DECLINED = "declined"
    SILENT = "silent"


_OPEN_QUESTION = (
    select(Concern).where(Concern.participant_id == bindparam("pid"),
                          Concern.state == ConcernState.ASKED,
                          Concern.due_at > bindparam("now", type_=UTCDateTime()))
    .order_by(Concern.id.desc()).limit(1).with_for_update()
)  # built once: every yes/no text reads it, and building it cost more than the read


def open_question(session: Session, participant_id: int, now: datetime) -> Concern | None:
    """Return the participant's open concern question (asked, not yet due), locked; else None."""
    return session.scalar(_OPEN_QUESTION, {"pid": participant_id, "now": now})


def ask(session: Session, participant: Participant, message_id: int | None,
        now: datetime) -> bool:
    """Open a concern question for `participant`; False if one is open already (asked once)."""
    if open_question(session, participant.id, now) is not None:
        return False
    concern = Concern(participant_id=participant.id, message_id=message_id,
                      state=ConcernState.ASKED, asked_at=now, due_at=now + ANSWER_WITHIN)
    session.add(concern)
    session.flush()
    session.add(AuditLog(actor="system", action="concern.ask", target_type="concern",
                         target_id=concern.id, created_at=now))
    return True


def upgrade(session: Session, participant_id: int, escalation_id: int, now: datetime) -> int:
    """Close the participant's waiting questions as upgraded to a crisis; return how many."""
    result = session.execute(
        update(Concern).where(Concern.participant_id == participant_id,
                              Concern.state == ConcernState.ASKED)
        .values(state=ConcernState.UPGRADED, closed_at=now, escalation_id=escalation_id))
    return int(getattr(result, "rowcount", 0) or 0)


def _alert_coach(session: Session, services: Services, concern: Concern, state: ConcernState,
                 reason: str, now: datetime) -> None:
    participant = session.get(Participant, concern.participant_id)
    assert participant is not None
    escalation = open_escalation(session, services, participant, kind="concern", reason=reason,
                                 event_key=f"concern:{concern.id}", now=now,
                                 message_id=concern.message_id, daytime_only=True)
    concern.state = state
    concern.closed_at = now
    concern.escalation_id = escalation.id if escalation is not None else None


def answered_no(session: Session, services: Services, concern: Concern, now: datetime) -> None:
    """Close `concern` on a NO and alert the coach (not urgent, in their daytime)."""
    _alert_coach(session, services, concern, ConcernState.DECLINED, REASON_NO, now)


def due(session: Session, now: datetime, limit: int) -> list[int]:
    """Return the ids of questions unanswered past their 30 minutes."""
    return list(session.scalars(
        select(Concern.id).where(Concern.state == ConcernState.ASKED, Concern.due_at <= now)
        .order_by(Concern.due_at, Concern.id).limit(limit)))


def fire_silence(session: Session, services: Services, concern_id: int, now: datetime) -> bool:
    """Alert the coach about an unanswered question (once); return whether this call did."""
    concern = session.get(Concern, concern_id, with_for_update=True)
    if concern is None or concern.state != ConcernState.ASKED or concern.due_at > now:
        return False
    _alert_coach(session, services, concern, ConcernState.SILENT, REASON_SILENT, now)
    return True
