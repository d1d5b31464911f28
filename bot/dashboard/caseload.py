"""The home page's veterans, who most need their coach first, one page at a time.

Rules:
- Order: open alerts, then unread words, then contact due, longest without
  contact first (bot.domain.contacts: contact due and "last contact").
- The order and the counts (veterans, contacts due, overdue pairs) come from
  one indexed query per request (`standings`: per-veteran subqueries on
  (participant_id, ...) indexes, a handful of small values per veteran);
  a page's facts from GROUP BY over the page's ids. A page's statements do
  not grow with the number of veterans, and no history is loaded beyond the
  page's 13 weeks of PEG answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from bot.dashboard.charts import Week, weekly_peg
from bot.dashboard.paging import CARDS, PAGE_SIZE, Pager, counted, matching
from bot.domain import peg
from bot.domain.access import only_theirs
from bot.domain.contacts import REACHED, Due, due_state, last_contacts
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


@dataclass(frozen=True)
class Standing:
    """Where one veteran stands: what the order and the counts need (no dates: see _rows)."""

    id: int
    alerts: int
    unread: int
    due: bool
    overdue: bool
    late: int  # place among the overdue, longest without contact first


def standings(db: Session, coach: Coach, every: timedelta, now: datetime) -> list[Standing]:
    """Return where each of the viewer's veterans stands, who most needs them first (one query).

    Each figure is a subquery on one veteran's rows of an index: contacts
    (participant_id, contact_at), escalations_open and inbox_items_unread (partial
    indexes). The subqueries run once per veteran in a MATERIALIZED CTE; the order and
    the due marks are computed in SQL, so only small integers come back per veteran.
    """
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
    s = only_theirs(query, coach, Participant.coach_id).cte("standing") \
        .prefix_with("MATERIALIZED")
    since = case((s.c.last > s.c.enrolled_at, s.c.last), else_=s.c.enrolled_at)
    due = case((and_(s.c.status == ACTIVE, since <= now - every), 1), else_=0)
    overdue = case((and_(s.c.status == ACTIVE, since <= now - 2 * every), 1), else_=0)
    ranked = db.execute(
        select(s.c.id, s.c.alerts, s.c.unread, due, overdue,
               func.row_number().over(order_by=(since, s.c.id)))
        .order_by(case((s.c.alerts > 0, 0), else_=1), case((s.c.unread > 0, 0), else_=1),
                  1 - due, since, s.c.id))
    return [Standing(pid, int(a), int(u), bool(d), bool(o), int(n))
            for pid, a, u, d, o, n in ranked]


def counts(found: Sequence[Standing]) -> Counts:
    """Return the number of veterans, contacts due and overdue pairs."""
    return Counts(len(found), sum(s.due for s in found), sum(s.overdue for s in found))


def veteran_page(db: Session, found: Sequence[Standing], every: timedelta, now: datetime,
                 page: int, q: str = "", param: str = "veterans"
                 ) -> tuple[list[VeteranRow], Pager]:
    """Return one page of the veterans (matching `q`), who most need their coach first."""
    wanted = list(found)
    where = matching(q)
    if where is not None:
        ids = set(db.scalars(select(Participant.id).where(where)))
        wanted = [s for s in wanted if s.id in ids]
    pager = counted(param, page, len(wanted))
    ranked = wanted[pager.offset:pager.offset + PAGE_SIZE]  # standings come in order
    return _rows(db, ranked, every, now), pager


def overdue_page(db: Session, found: Sequence[Standing], every: timedelta, now: datetime,
                 page: int, param: str = "overdue") -> tuple[list[VeteranRow], Pager]:
    """Return one page of the overdue pairs (no contact for twice `every`), longest first."""
    late = sorted((s for s in found if s.overdue), key=lambda s: s.late)
    pager = counted(param, page, len(late), CARDS)
    return _rows(db, late[pager.offset:pager.offset + CARDS], every, now, facts=False), pager


def _rows(db: Session, ranked: Sequence[Standing], every: timedelta, now: datetime,
          facts: bool = True) -> list[VeteranRow]:
    """Return the rows of the veterans `ranked`, in that order.

    `facts` adds what the veterans list shows (last check-in, PEG weeks, drafts), each one
    query over the page's ids; the overdue pairs need only names and contact.
    """
    ids = [r.id for r in ranked]
    if not ids:
        return []
    people = {p.id: p for p in db.scalars(select(Participant).where(Participant.id.in_(ids)))}
    contacted = last_contacts(db, ids)
    last_checkin: dict[int, datetime] = {}
    answers: dict[int, list[Any]] = {i: [] for i in ids}
    pending: dict[int, int] = {}
    if facts:
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
            participant=p, coach_name=coach_names.get(p.coach_id, "?"),
            last_contact=contacted.get(p.id),
            last_heard=p.last_inbound_at, last_checkin=last_checkin.get(p.id),
            weeks=weekly_peg(answers[p.id], p.timezone) if facts else [],
            pending=pending.get(p.id, 0), open_escalations=r.alerts,
            due=due_state(p, contacted.get(p.id), every, now), unread=r.unread))
    return rows
