"""Load what the pages show, scoped to what the signed-in user may see."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, joinedload

from bot.dashboard.paging import CARDS
from bot.domain import nudges as nudge_rules
from bot.domain.access import coaches, may_act, only_theirs
from bot.models import Coach, Escalation, Message, Nudge, Outbox, Participant


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


def escalation_or_404(db: Session, escalation_id: int, coach: Coach,
                      lock: bool = True) -> Escalation:
    """Return the escalation if `coach` may act on it (locked to act on, unless `lock` is off)."""
    # PostgreSQL locks no row on the nullable side of an outer join: join only to read.
    escalation = db.get(Escalation, escalation_id, with_for_update=lock,
                        options=[] if lock else [joinedload(Escalation.participant)])
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


def _open_alerts(coach: Coach) -> Select[Escalation]:
    query = select(Escalation).where(Escalation.resolved_at.is_(None))
    return only_theirs(query, coach, Escalation.coach_id)


def open_escalations(db: Session, coach: Coach, participant_id: int | None = None,
                     page: int = 1) -> list[Escalation]:
    """Return a page of unresolved escalations: urgent first, then unacknowledged, newest first.

    Each comes with its participant loaded (the cards name them after the session ends).
    """
    query = _open_alerts(coach).options(joinedload(Escalation.participant))
    if participant_id is not None:
        query = query.where(Escalation.participant_id == participant_id)
    waiting = case((Escalation.acknowledged_at.is_(None), 0), else_=1)
    return list(db.scalars(query.order_by(Escalation.urgent.desc(), waiting,
                                          Escalation.created_at.desc(), Escalation.id.desc())
                           .offset((page - 1) * CARDS).limit(CARDS)))


def alert_counts(db: Session, coach: Coach) -> tuple[int, int]:
    """Return how many escalations are open for the viewer, and how many of them unacknowledged."""
    open_ = _open_alerts(coach).subquery()
    total, waiting = db.execute(select(
        func.count(), func.coalesce(func.sum(case((open_.c.acknowledged_at.is_(None), 1),
                                                  else_=0)), 0)).select_from(open_)).one()
    return int(total), int(waiting)


def _pending(coach: Coach) -> Select[Nudge]:
    return only_theirs(select(Nudge).where(Nudge.status == "pending"), coach, Nudge.coach_id)


def drafts_page(db: Session, coach: Coach, page: int = 1,
                participant_id: int | None = None) -> list[Nudge]:
    """Return a page of pending drafts, oldest due first, each with its participant loaded."""
    query = _pending(coach).options(joinedload(Nudge.participant))
    if participant_id is not None:
        query = query.where(Nudge.participant_id == participant_id)
    return list(db.scalars(query.order_by(Nudge.due_at, Nudge.id)
                           .offset((page - 1) * CARDS).limit(CARDS)))


def draft_count(db: Session, coach: Coach) -> int:
    """Return how many drafts wait for the viewer's approval."""
    return int(db.scalar(select(func.count()).select_from(_pending(coach).subquery())) or 0)


def names(db: Session, ids: set[int | None]) -> dict[int, str]:
    """Return coach names by id."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.execute(select(Coach.id, Coach.name).where(Coach.id.in_(wanted))).all())


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
