"""The home page's veterans, who most need their coach first, one page at a time.

Rules:
- Order: open alerts, then unread words, then contact due, longest without
  contact first (bot.domain.contacts: contact due and "last contact").
- The order, the counts (veterans, contacts due, overdue pairs) and a page's
  rows come from indexed queries: per-veteran subqueries on (participant_id,
  ...) indexes for the order, GROUP BY over the page's ids for its facts. A
  page's statements do not grow with the number of veterans, and no history
  is loaded beyond the page's 13 weeks of PEG answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from bot.dashboard.charts import Week, weekly_peg
from bot.dashboard.paging import PAGE_SIZE, Pager, counted, matching
from bot.domain import peg
from bot.domain.access import only_theirs
from bot.domain.contacts import REACHED, Due, due_state
from bot.models import CheckinAnswer, Coach, Contact, Escalation, InboxItem, Nudge, Participant

CHART_SPAN = timedelta(weeks=13)  # the home page's small charts show about a quarter
ACTIVE = "active"


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


@dataclass(frozen=True)
class Counts:
    """How many veterans a viewer has, and how many are contact due or overdue."""

    veterans: int
    due: int
    overdue: int


def _standing(coach: Coach, q: str = "") -> Any:
    """Return a subquery of the viewer's veterans with their last contact, alerts and unread."""
    last = (select(func.max(Contact.contact_at))
            .where(Contact.participant_id == Participant.id, Contact.kind.in_(REACHED))
            .correlate(Participant).scalar_subquery())
    alerts = (select(func.count()).select_from(Escalation)
              .where(Escalation.participant_id == Participant.id,
                     Escalation.resolved_at.is_(None))
              .correlate(Participant).scalar_subquery())
    unread = (select(func.count()).select_from(InboxItem)
              .where(InboxItem.participant_id == Participant.id, InboxItem.read_at.is_(None))
              .correlate(Participant).scalar_subquery())
    query: Select[Any] = select(Participant.id, Participant.status, Participant.enrolled_at,
                                last.label("last"), alerts.label("alerts"),
                                unread.label("unread"))
    query = only_theirs(query, coach, Participant.coach_id)
    found = matching(q)
    if found is not None:
        query = query.where(found)
    return query.subquery("standing")


def _since(s: Any) -> Any:
    """Return SQL for the time contact is counted from: the last contact, else enrolment."""
    return case((s.c.last > s.c.enrolled_at, s.c.last), else_=s.c.enrolled_at)


def _due(s: Any, every: timedelta, now: datetime, periods: int = 1) -> Any:
    return and_(s.c.status == ACTIVE, _since(s) <= now - every * periods)


def counts(db: Session, coach: Coach, every: timedelta, now: datetime) -> Counts:
    """Return the viewer's number of veterans, contacts due and overdue pairs (one query)."""
    s = _standing(coach)
    total, due, overdue = db.execute(select(
        func.count(), func.coalesce(func.sum(case((_due(s, every, now), 1), else_=0)), 0),
        func.coalesce(func.sum(case((_due(s, every, now, 2), 1), else_=0)), 0))
        .select_from(s)).one()
    return Counts(int(total), int(due), int(overdue))


def veteran_page(db: Session, coach: Coach, every: timedelta, now: datetime, page: int,
                 q: str = "", param: str = "veterans") -> tuple[list[VeteranRow], Pager]:
    """Return one page of the viewer's veterans (matching `q`), who most need them first."""
    s = _standing(coach, q)
    total = int(db.scalar(select(func.count()).select_from(s)) or 0)
    pager = counted(param, page, total)
    first = case((s.c.alerts > 0, 0), else_=1), case((s.c.unread > 0, 0), else_=1)
    ranked = db.execute(
        select(s.c.id, s.c.last, s.c.alerts, s.c.unread)
        .order_by(*first, case((_due(s, every, now), 0), else_=1), _since(s), s.c.id)
        .offset(pager.offset).limit(PAGE_SIZE)).all()
    return _rows(db, ranked, every, now), pager


def overdue_page(db: Session, coach: Coach, every: timedelta, now: datetime, page: int,
                 param: str = "overdue") -> tuple[list[VeteranRow], Pager]:
    """Return one page of the overdue pairs (no contact for twice `every`), longest first."""
    s = _standing(coach)
    overdue = _due(s, every, now, 2)
    total = int(db.scalar(select(func.count()).select_from(s).where(overdue)) or 0)
    pager = counted(param, page, total)
    ranked = db.execute(select(s.c.id, s.c.last, s.c.alerts, s.c.unread).where(overdue)
                        .order_by(_since(s), s.c.id)
                        .offset(pager.offset).limit(PAGE_SIZE)).all()
    return _rows(db, ranked, every, now), pager


def _rows(db: Session, ranked: Sequence[Any], every: timedelta, now: datetime) -> list[VeteranRow]:
    """Return the rows of the veterans `ranked` (id, last, alerts, unread), in that order."""
    ids = [r.id for r in ranked]
    if not ids:
        return []
    people = {p.id: p for p in db.scalars(select(Participant).where(Participant.id.in_(ids)))}
    last_checkin = dict(db.execute(
        select(CheckinAnswer.participant_id, func.max(CheckinAnswer.answered_at))
        .where(CheckinAnswer.participant_id.in_(ids))
        .group_by(CheckinAnswer.participant_id)).all())
    answers = peg.answers(db, ids, since=now - CHART_SPAN)
    pending = dict(db.execute(
        select(Nudge.participant_id, func.count(Nudge.id))
        .where(Nudge.participant_id.in_(ids), Nudge.status == "pending")
        .group_by(Nudge.participant_id)).all())
    coach_ids = {p.coach_id for p in people.values()}
    coach_names = dict(db.execute(select(Coach.id, Coach.name)
                                  .where(Coach.id.in_(coach_ids))).all())
    rows = []
    for r in ranked:
        p = people[r.id]
        rows.append(VeteranRow(
            participant=p, coach_name=coach_names.get(p.coach_id, "?"), last_contact=r.last,
            last_heard=p.last_inbound_at, last_checkin=last_checkin.get(p.id),
            weeks=weekly_peg(answers[p.id], p.timezone), pending=pending.get(p.id, 0),
            open_escalations=r.alerts, due=due_state(p, r.last, every, now), unread=r.unread))
    return rows
