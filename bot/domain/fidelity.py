"""Fidelity (SPEC 12): per coach and per pair, per month, what the program's supervisor reads.

Rules:
- Months are calendar months in `[program] timezone`, from the first to the last
  month with any activity.
- Contacts are the pair's human contacts from the contact log (bot.domain.contacts):
  calls, visits and texts, logged by the coach or relayed through the program number;
  `tried` (could not reach them) is not a contact. The rows say so (`contacts_from`).
- A pair met `contact_every` in a month when no stretch of that month (from
  enrolment, or the month's start, to the month's end or the program's end) went
  longer than `contact_every` without a contact; months before enrolment are
  not the pair's. The current month is judged up to now.
- Time to acknowledge: the median minutes from an alert's creation to its
  acknowledgement, for alerts created that month and acknowledged.
- Drafts by the month they were decided (expired ones by their due time):
  approved as written, edited (approved with a changed text), rejected, expired.
- Caseload: the coach's veterans enrolled by the month's end (the current
  assignment; reassignments are not replayed).
- PEG change: the latest score that month minus the baseline (bot.peg); a coach's
  row has the median over their pairs.
- The database counts drafts and bucket alerts into months (a CASE over the
  months' UTC bounds, so months stay local); contacts and PEG check-ins are read
  as columns, sorted, and cut per month by bisection. A coach's rows depend only
  on their own veterans, so `coach_ids` works out a few coaches with the same figures.
"""

from __future__ import annotations

import statistics
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select, true
from sqlalchemy.orm import Session

from bot.core.config import Config
from bot.domain.contacts import REACHED
from bot.domain.nudges import NudgeStatus
from bot.domain.peg import Checkin, answers, checkins
from bot.domain.program_arc import end_of
from bot.models import Contact, Escalation, Nudge, Participant

CONTACTS_FROM = "contact log: calls, visits and texts (relayed texts count)"
COLUMNS = ["level", "month", "coach_id", "participant_id", "contacts", "contacts_from",
           "met_contact_every", "median_minutes_to_acknowledge", "drafts_approved",
           "drafts_edited", "drafts_rejected", "drafts_expired", "caseload", "peg_change"]


@dataclass
class FidelityRow:
    """One coach's or one pair's month."""

    level: str  # coach | pair
    month: str  # YYYY-MM
    coach_id: int
    participant_id: int | None = None
    contacts: int = 0
    met: bool | None = None
    ack_minutes: float | None = None
    approved: int = 0
    edited: int = 0
    rejected: int = 0
    expired: int = 0
    caseload: int | None = None
    peg_change: float | None = None
    ack_waits: list[float] = field(default_factory=list)
    pairs_met: int = 0  # coach rows: pairs that met contact_every, of those judged
    pairs_judged: int = 0

    def cells(self) -> list[Any]:
        """Return the row as CSV cells, in COLUMNS order."""
        return [self.level, self.month, self.coach_id, self.participant_id or "",
                self.contacts, CONTACTS_FROM, "" if self.met is None else
                ("yes" if self.met else "no"), _num(self.ack_minutes), self.approved,
                self.edited, self.rejected, self.expired,
                "" if self.caseload is None else self.caseload, _num(self.peg_change)]


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}".removesuffix(".0")


def _month(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m")


def _month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start, end


def _months(first: str, last: str) -> list[str]:
    out, (year, number) = [], (int(p) for p in first.split("-"))
    while f"{year:04d}-{number:02d}" <= last:
        out.append(f"{year:04d}-{number:02d}")
        year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return out


def met_target(contacts: Iterable[datetime], start: datetime, end: datetime,
               every: timedelta) -> bool:
    """Tell whether no stretch of [start, end) went longer than `every` without a contact."""
    last = start
    for moment in sorted(c for c in contacts if start <= c < end):
        if moment - last > every:
            return False
        last = moment
    return end - last <= every


def _only(column: Any, ids: Collection[int] | None) -> Any:
    """Return a WHERE clause keeping `ids` in `column` (everything when None)."""
    return true() if ids is None else column.in_(ids)


def _contacts(session: Session, ids: Collection[int] | None) -> dict[int, list[datetime]]:
    found: dict[int, list[datetime]] = defaultdict(list)
    for participant_id, contact_at in session.execute(
            select(Contact.participant_id, Contact.contact_at)
            .where(Contact.kind.in_(REACHED), _only(Contact.participant_id, ids))
            .order_by(Contact.participant_id, Contact.contact_at)):
        found[participant_id].append(contact_at)
    return found


def _score(checkin: Checkin) -> float:
    """Return a complete check-in's PEG score, as bot.domain.peg.PegScore.score does."""
    values = checkin.values
    return round((values["pain"] + values["enjoyment"] + values["activity"]) / 3, 1)


def _bucket(moment: Any, bounds: list[tuple[datetime, datetime]]) -> Any:
    """Return a SQL expression: the index of the month `moment` falls in (bounds ascending)."""
    return case(*((moment < end, index) for index, (_, end) in enumerate(bounds)))


def coaches_with_rows(session: Session, config: Config, now: datetime) -> set[int]:
    """Return the coaches `fidelity_rows` has rows for: a veteran enrolled by now's month."""
    zone = ZoneInfo(config.program.timezone)
    _, end = _month_bounds(_month(now, zone), zone)
    return set(session.scalars(select(Participant.coach_id).distinct()
                               .where(Participant.enrolled_at < end)))


def fidelity_rows(session: Session, config: Config, now: datetime,
                  coach_ids: Collection[int] | None = None) -> list[FidelityRow]:
    """Return the pair rows and then the coach rows, month by month (of `coach_ids`, or all)."""
    zone = ZoneInfo(config.program.timezone)
    every = config.program.contact_every.delta
    query = select(Participant).order_by(Participant.id)
    if coach_ids is not None:
        query = query.where(Participant.coach_id.in_(coach_ids))
    people = list(session.scalars(query))
    if not people:
        return []
    contacts = _contacts(session, None if coach_ids is None else [p.id for p in people])
    found = answers(session, [p.id for p in people])
    months = _months(_month(min(p.enrolled_at for p in people), zone), _month(now, zone))
    # In UTC: comparing datetimes of one tzinfo skips a zone lookup per comparison.
    bounds = [(start.astimezone(UTC), end.astimezone(UTC))
              for start, end in (_month_bounds(month, zone) for month in months)]
    pairs: dict[tuple[str, int], FidelityRow] = {}
    for person in people:
        mine = contacts.get(person.id, [])
        scored = [c for c in checkins(found[person.id], person.timezone) if c.complete]
        scored_at = [c.at for c in scored]
        baseline = (person.peg_baseline or {}).get("score")
        finish = end_of(person, config)
        for month, (start, end) in zip(months, bounds, strict=True):
            if person.enrolled_at >= end:
                continue
            row = FidelityRow("pair", month, person.coach_id, person.id)
            row.contacts = bisect_left(mine, end) - bisect_left(mine, start)
            stop = min(end, now, finish)
            begin = max(start, person.enrolled_at)
            if stop > begin:
                row.met = met_target(mine[bisect_left(mine, begin):bisect_left(mine, stop)],
                                     begin, stop, every)
            latest = bisect_left(scored_at, end)
            if latest and baseline is not None:
                row.peg_change = round(_score(scored[latest - 1]) - float(baseline), 1)
            pairs[(month, person.id)] = row
    ids = None if coach_ids is None else [p.id for p in people]
    _add_acks(session, pairs, months, bounds, ids)
    _add_drafts(session, pairs, months, bounds, ids)
    return [*pairs.values(), *_coach_rows(pairs.values(), people, zone)]


def _add_acks(session: Session, pairs: dict[tuple[str, int], FidelityRow], months: list[str],
              bounds: list[tuple[datetime, datetime]], ids: Collection[int] | None) -> None:
    waits: dict[tuple[str, int], list[float]] = defaultdict(list)
    month = _bucket(Escalation.created_at, bounds)
    for participant_id, index, created, acked in session.execute(
            select(Escalation.participant_id, month, Escalation.created_at,
                   Escalation.acknowledged_at)
            .where(Escalation.acknowledged_at.is_not(None),
                   Escalation.participant_id.is_not(None),
                   Escalation.created_at >= bounds[0][0],
                   Escalation.created_at < bounds[-1][1],
                   _only(Escalation.participant_id, ids))):
        waits[(months[index], participant_id)].append((acked - created).total_seconds() / 60)
    for key, minutes in waits.items():
        if key in pairs:
            pairs[key].ack_minutes = statistics.median(minutes)
            pairs[key].ack_waits = minutes


def _add_drafts(session: Session, pairs: dict[tuple[str, int], FidelityRow], months: list[str],
                bounds: list[tuple[datetime, datetime]], ids: Collection[int] | None) -> None:
    """Count decided drafts per pair and month in SQL (expired ones by their due time)."""
    moment = func.coalesce(Nudge.decided_at, Nudge.due_at)
    kind = case((Nudge.status == NudgeStatus.REJECTED, "rejected"),
                ((Nudge.status == NudgeStatus.EXPIRED) & Nudge.decided_by_id.is_(None),
                 "expired"),
                (Nudge.body != Nudge.original_body, "edited"), else_="approved")
    month = _bucket(moment, bounds)
    for participant_id, index, name, count in session.execute(
            select(Nudge.participant_id, month, kind, func.count())
            .where(Nudge.status.in_((NudgeStatus.APPROVED, NudgeStatus.SENT,
                                     NudgeStatus.REJECTED, NudgeStatus.EXPIRED)),
                   moment >= bounds[0][0], moment < bounds[-1][1],
                   _only(Nudge.participant_id, ids))
            .group_by(Nudge.participant_id, month, kind)):
        row = pairs.get((months[index], participant_id))
        if row is not None:
            setattr(row, name, getattr(row, name) + count)


def _coach_rows(pairs: Iterable[FidelityRow], people: list[Participant],
                zone: ZoneInfo) -> list[FidelityRow]:
    by_coach: dict[tuple[str, int], list[FidelityRow]] = defaultdict(list)
    for row in pairs:
        by_coach[(row.month, row.coach_id)].append(row)
    enrolled: dict[int, list[datetime]] = defaultdict(list)
    for person in people:
        enrolled[person.coach_id].append(person.enrolled_at)
    for moments in enrolled.values():
        moments.sort()
    out = []
    for (month, coach_id), rows in sorted(by_coach.items()):
        _, end = _month_bounds(month, zone)
        coach = FidelityRow("coach", month, coach_id)
        coach.contacts = sum(r.contacts for r in rows)
        judged = [r.met for r in rows if r.met is not None]
        coach.met = all(judged) if judged else None
        waits = [w for r in rows for w in r.ack_waits]
        coach.ack_minutes = statistics.median(waits) if waits else None
        for name in ("approved", "edited", "rejected", "expired"):
            setattr(coach, name, sum(getattr(r, name) for r in rows))
        coach.caseload = bisect_left(enrolled[coach_id], end)
        changes = [r.peg_change for r in rows if r.peg_change is not None]
        coach.peg_change = statistics.median(changes) if changes else None
        coach.pairs_met = sum(bool(r.met) for r in rows)
        coach.pairs_judged = len(judged)
        out.append(coach)
    return out
