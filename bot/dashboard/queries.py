"""Load what the pages show, scoped to what the signed-in user may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import abort, current_app
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from bot.dashboard.charts import Week, weekly_peg
from bot.domain import nudges as nudge_rules
from bot.domain.access import coaches, may_act, only_theirs
from bot.domain.contacts import Due, contact_every, due_state, last_contacts
from bot.domain.nudges import NudgeStatus
from bot.models import (
    CheckinAnswer,
    Coach,
    Escalation,
    InboxItem,
    Message,
    Nudge,
    Outbox,
    Participant,
)

CHART_SPAN = timedelta(weeks=13)  # the home page's small charts show about a quarter


def services_config() -> Any:
    """Return the running app's configuration."""
    return current_app.extensions["peerline"].config


def participants_for(coach: Coach) -> Select[Participant]:
    """Return a query for the participants `coach` may see (all of them for staff)."""
    query = select(Participant).order_by(Participant.name, Participant.id)
    return only_theirs(query, coach, Participant.coach_id)


def participant_or_404(db: Session, participant_id: int, coach: Coach) -> Participant:
    """Return the participant if `coach` may see them; else 404 (never say whose it is)."""
    participant = db.get(Participant, participant_id)
    if participant is None or not coaches(coach, participant):
        abort(404)
    return participant


def nudge_or_404(db: Session, nudge_id: int, coach: Coach) -> Nudge:
    """Return the draft if `coach` may act on it; else 404."""
    nudge = db.get(Nudge, nudge_id)
    if nudge is None or not may_act(coach, nudge):
        abort(404)
    return nudge_rules.get_for(db, nudge_id, coach)  # takes the row lock


def escalation_or_404(db: Session, escalation_id: int, coach: Coach) -> Escalation:
    """Return the escalation if `coach` may act on it; else 404."""
    escalation = db.get(Escalation, escalation_id, with_for_update=True)
    if escalation is None or not may_act(coach, escalation):
        abort(404)  # also a closed alert of a veteran since given to another coach
    return escalation


MAX_ALERT_WORDS = 20  # texts of one alert shown on its page


def alert_words(db: Session, escalation: Escalation) -> list[Message]:
    """Return the texts that raised `escalation`: its message and the repeats it counted."""
    if escalation.message_id is None:
        return []
    first = db.get(Message, escalation.message_id)
    if first is None:
        return []
    if escalation.texts <= 1 or escalation.last_text_at is None:
        return [first]
    return list(db.scalars(
        select(Message).where(Message.phone == first.phone, Message.direction == "in",
                              Message.id >= first.id,
                              Message.created_at <= escalation.last_text_at)
        .order_by(Message.id).limit(MAX_ALERT_WORDS)))


def open_escalations(db: Session, coach: Coach, participant_id: int | None = None
                     ) -> list[Escalation]:
    """Return unresolved escalations: urgent first, then unacknowledged, newest first."""
    query = select(Escalation).where(Escalation.resolved_at.is_(None))
    query = only_theirs(query, coach, Escalation.coach_id)
    if participant_id is not None:
        query = query.where(Escalation.participant_id == participant_id)
    rows = list(db.scalars(query))
    rows.sort(key=lambda e: (not e.urgent, e.acknowledged_at is not None,
                             -e.created_at.timestamp()))
    return rows


def names(db: Session, ids: set[int | None]) -> dict[int, str]:
    """Return coach names by id."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {c.id: c.name for c in db.scalars(select(Coach).where(Coach.id.in_(wanted)))}


@dataclass
class VeteranRow:
    """One line of "my veterans"."""

    participant: Participant
    coach_name: str
    last_contact: datetime | None
    last_heard: datetime | None
    last_checkin: datetime | None
    weeks: list[Week]
    pending: int
    open_escalations: int
    due: Due
    unread: int = 0


def veteran_rows(db: Session, coach: Coach, now: datetime) -> list[VeteranRow]:
    """Return the veterans `coach` may see with their latest activity and recent PEG weeks."""
    people = list(db.scalars(participants_for(coach)))
    ids = [p.id for p in people]
    if not ids:
        return []
    last_checkin = dict(db.execute(
        select(CheckinAnswer.participant_id, func.max(CheckinAnswer.answered_at))
        .where(CheckinAnswer.participant_id.in_(ids)).group_by(CheckinAnswer.participant_id)
    ).all())
    answers: dict[int, list[CheckinAnswer]] = {i: [] for i in ids}
    recent = select(CheckinAnswer).where(CheckinAnswer.participant_id.in_(ids),
                                         CheckinAnswer.answered_at >= now - CHART_SPAN)
    for answer in db.scalars(recent.order_by(CheckinAnswer.answered_at)):
        answers[answer.participant_id].append(answer)
    pending = dict(db.execute(
        select(Nudge.participant_id, func.count(Nudge.id))
        .where(Nudge.participant_id.in_(ids), Nudge.status == NudgeStatus.PENDING)
        .group_by(Nudge.participant_id)).all())
    escalated = dict(db.execute(
        select(Escalation.participant_id, func.count(Escalation.id))
        .where(Escalation.participant_id.in_(ids), Escalation.resolved_at.is_(None))
        .group_by(Escalation.participant_id)).all())
    coach_names = names(db, {p.coach_id for p in people})
    contacted = last_contacts(db, ids)  # human contacts only: never an automated text
    unread = dict(db.execute(
        select(InboxItem.participant_id, func.count(InboxItem.id))
        .where(InboxItem.participant_id.in_(ids), InboxItem.read_at.is_(None))
        .group_by(InboxItem.participant_id)).all())
    every = contact_every(services_config())
    rows = []
    for p in people:
        rows.append(VeteranRow(
            participant=p, coach_name=coach_names.get(p.coach_id, "?"),
            last_contact=contacted.get(p.id), last_heard=p.last_inbound_at,
            last_checkin=last_checkin.get(p.id), weeks=weekly_peg(answers[p.id], p.timezone),
            pending=pending.get(p.id, 0), open_escalations=escalated.get(p.id, 0),
            due=due_state(p, contacted.get(p.id), every, now), unread=unread.get(p.id, 0),
        ))
    # Those who most need their coach first: alerts, unread words, contact due (longest first).
    rows.sort(key=lambda r: (not r.open_escalations, not r.unread, not r.due.due,
                             -r.due.age.total_seconds()))
    return rows


def thread(db: Session, participant_id: int, limit: int = 200,
           offset: int = 0) -> list[tuple[Message, str | None]]:
    """Return the latest messages with a participant, oldest first, with their outbox state.

    `offset` skips that many of the newest (the conversation's older pages).
    """
    rows = db.execute(
        select(Message, Outbox.state).outerjoin(Outbox, Outbox.message_id == Message.id)
        .where(Message.participant_id == participant_id)
        .order_by(Message.created_at.desc(), Message.id.desc()).offset(offset).limit(limit)
    ).all()
    return list(reversed(rows))


def answers_for(db: Session, participant_id: int) -> list[CheckinAnswer]:
    """Return a participant's saved check-in answers, oldest first."""
    return list(db.scalars(select(CheckinAnswer)
                           .where(CheckinAnswer.participant_id == participant_id)
                           .order_by(CheckinAnswer.answered_at, CheckinAnswer.id)))
