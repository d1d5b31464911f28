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
- The database counts drafts and buckets alerts into months (a CASE over the
  months' UTC bounds, so months stay local) and keeps each month's latest complete
  PEG check-in (bot.domain.peg.latest_scores); contacts are read as a column,
  sorted, and cut per month by bisection. A coach's rows depend only on their own
  veterans, so `coach_ids` works out a few coaches with the same figures.
- Veterans are worked out CHUNK at a time and their rows yielded as they are
  ready; only the coach totals (and the veterans' columns) outlive a chunk, so the
  export never holds every answer or every pair row.
"""

from __future__ import annotations

import statistics
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Row, case, func, select
from sqlalchemy.orm import Session

from bot.core.config import Config
from bot.domain.contacts import REACHED
from bot.domain.nudges import NudgeStatus
from bot.domain.peg import latest_scores, month_index
from bot.domain.program_arc import end_of
from bot.models import Contact, Escalation, Nudge, Participant

CHUNK = 1000  # veterans worked out per round of queries
CONTACTS_FROM = "contact log: calls, visits and texts (relayed texts count)"
COLUMNS = ["level", "month", "coach_id", "participant_id", "contacts", "contacts_from",
           "met_contact_every", "median_minutes_to_acknowledge", "drafts_approved",
           "drafts_edited", "drafts_rejected", "drafts_expired", "caseload", "peg_change"]


@dataclass(slots=True)
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


def _met(contacts: list[datetime], start: datetime, end: datetime, every: timedelta) -> bool:
    """Return met_target(contacts, start, end, every) for contacts already sorted."""
    return _met_between(contacts, bisect_left(contacts, start), bisect_left(contacts, end),
                        start, end, every)


def _met_between(contacts: list[datetime], lo: int, hi: int, start: datetime, end: datetime,
                 every: timedelta) -> bool:
    """Return _met for contacts[lo:hi], the sorted contacts within [start, end)."""
    last = start
    for index in range(lo, hi):
        if contacts[index] - last > every:
            return False
        last = contacts[index]
    return end - last <= every


def _contacts(session: Session, ids: Collection[int]) -> dict[int, list[datetime]]:
    found: dict[int, list[datetime]] = defaultdict(list)
    for participant_id, contact_at in session.execute(
            select(Contact.participant_id, Contact.contact_at)
            .where(Contact.kind.in_(REACHED), Contact.participant_id.in_(ids))
            .order_by(Contact.participant_id, Contact.contact_at)):
        found[participant_id].append(contact_at)
    return found


def coaches_with_rows(session: Session, config: Config, now: datetime) -> set[int]:
    """Return the coaches `fidelity_rows` has rows for: a veteran enrolled by now's month."""
    zone = ZoneInfo(config.program.timezone)
    _, end = _month_bounds(_month(now, zone), zone)
    return set(session.scalars(select(Participant.coach_id).distinct()
                               .where(Participant.enrolled_at < end)))


@dataclass
class _Span:
    """The months the rows cover, with their UTC bounds."""

    months: list[str]
    bounds: list[tuple[datetime, datetime]]

    @property
    def ends(self) -> list[datetime]:
        return [end for _, end in self.bounds]


def _people(session: Session, coach_ids: Collection[int] | None) -> list[Row[Any]]:
    """Return the veterans (the columns the rows need), by id."""
    p = Participant
    query = (select(p.id, p.coach_id, p.enrolled_at, p.program_end_at, p.timezone,
                    p.peg_baseline).order_by(p.id))
    if coach_ids is not None:
        query = query.where(p.coach_id.in_(coach_ids))
    return list(session.execute(query))


def fidelity_rows(session: Session, config: Config, now: datetime,
                  coach_ids: Collection[int] | None = None) -> Iterator[FidelityRow]:
    """Yield the pair rows and then the coach rows, month by month (of `coach_ids`, or all)."""
    zone = ZoneInfo(config.program.timezone)
    people = _people(session, coach_ids)
    if not people:
        return
    months = _months(_month(min(p.enrolled_at for p in people), zone), _month(now, zone))
    # In UTC: comparing datetimes of one tzinfo skips a zone lookup per comparison.
    span = _Span(months, [(start.astimezone(UTC), end.astimezone(UTC))
                          for start, end in (_month_bounds(month, zone) for month in months)])
    coaches = _CoachTotals()
    for start in range(0, len(people), CHUNK):
        pairs = _pair_rows(session, config, now, people[start:start + CHUNK], span)
        coaches.add(pairs)
        yield from pairs
    yield from coaches.rows(people, zone)


def _pair_rows(session: Session, config: Config, now: datetime, people: Sequence[Row[Any]],
               span: _Span) -> list[FidelityRow]:
    """Return the pair rows of `people`, veteran by veteran, month by month."""
    every = config.program.contact_every.delta
    ids = [p.id for p in people]
    contacts = _contacts(session, ids)
    scores = latest_scores(session, people, span.ends)
    pairs: dict[tuple[str, int], FidelityRow] = {}
    starts, ends = [start for start, _ in span.bounds], span.ends
    for person in people:
        mine = contacts.get(person.id, [])
        latest = scores[person.id]
        baseline = (person.peg_baseline or {}).get("score")
        # end_of reads only enrolled_at and program_end_at, which the row carries.
        finish = end_of(cast(Participant, person), config)
        first = bisect_right(ends, person.enrolled_at)  # the first month ending after enrolment
        # Where each month's contacts begin in `mine` (each month ends where the next begins).
        cuts = [bisect_left(mine, moment) for moment in (*starts[first:], ends[-1])]
        for index in range(first, len(ends)):
            start, end = starts[index], ends[index]
            lo, hi = cuts[index - first], cuts[index - first + 1]
            stop, begin = min(end, now, finish), max(start, person.enrolled_at)
            met = None
            if stop > begin:
                met = _met(mine, begin, stop, every) if begin != start or stop != end \
                    else _met_between(mine, lo, hi, start, end, every)
            score = latest[index]
            change = round(score - float(baseline), 1) \
                if score is not None and baseline is not None else None
            pairs[(span.months[index], person.id)] = FidelityRow(
                "pair", span.months[index], person.coach_id, person.id, contacts=hi - lo,
                met=met, peg_change=change)
    _add_acks(session, pairs, span, ids)
    _add_drafts(session, pairs, span, ids)
    return list(pairs.values())


def _add_acks(session: Session, pairs: dict[tuple[str, int], FidelityRow], span: _Span,
              ids: Collection[int]) -> None:
    waits: dict[tuple[str, int], list[float]] = defaultdict(list)
    month = month_index(Escalation.created_at, span.ends)
    for participant_id, index, created, acked in session.execute(
            select(Escalation.participant_id, month, Escalation.created_at,
                   Escalation.acknowledged_at)
            .where(Escalation.acknowledged_at.is_not(None),
                   Escalation.created_at >= span.bounds[0][0],
                   Escalation.created_at < span.bounds[-1][1],
                   Escalation.participant_id.in_(ids))):
        waits[(span.months[index], participant_id)].append(
            (acked - created).total_seconds() / 60)
    for key, minutes in waits.items():
        if key in pairs:
            pairs[key].ack_minutes = statistics.median(minutes)
            pairs[key].ack_waits = minutes


def _add_drafts(session: Session, pairs: dict[tuple[str, int], FidelityRow], span: _Span,
                ids: Collection[int]) -> None:
    """Count decided drafts per pair and month in SQL (expired ones by their due time)."""
    moment = func.coalesce(Nudge.decided_at, Nudge.due_at)
    kind = case((Nudge.status == NudgeStatus.REJECTED, "rejected"),
                ((Nudge.status == NudgeStatus.EXPIRED) & Nudge.decided_by_id.is_(None),
                 "expired"),
                (Nudge.body != Nudge.original_body, "edited"), else_="approved")
    month = month_index(moment, span.ends)
    for participant_id, index, name, count in session.execute(
            select(Nudge.participant_id, month, kind, func.count())
            .where(Nudge.status.in_((NudgeStatus.APPROVED, NudgeStatus.SENT,
                                     NudgeStatus.REJECTED, NudgeStatus.EXPIRED)),
                   moment >= span.bounds[0][0], moment < span.bounds[-1][1],
                   Nudge.participant_id.in_(ids))
            .group_by(Nudge.participant_id, month, kind)):
        row = pairs.get((span.months[index], participant_id))
        if row is not None:
            setattr(row, name, getattr(row, name) + count)


DRAFT_KINDS = ("approved", "edited", "rejected", "expired")


@dataclass
class _Coach:
    """One coach's month, added up from their pairs as they go by."""

    contacts: int = 0
    judged: int = 0
    met: int = 0
    waits: list[float] = field(default_factory=list)
    drafts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DRAFT_KINDS, 0))
    changes: list[float] = field(default_factory=list)


class _CoachTotals:
    """Add pair rows up per coach and month; only these totals outlive a chunk."""

    def __init__(self) -> None:
        self.totals: dict[tuple[str, int], _Coach] = defaultdict(_Coach)

    def add(self, pairs: Sequence[FidelityRow]) -> None:
        for row in pairs:
            total = self.totals[(row.month, row.coach_id)]
            total.contacts += row.contacts
            if row.met is not None:
                total.judged += 1
                total.met += row.met
            total.waits.extend(row.ack_waits)
            for name in DRAFT_KINDS:
                total.drafts[name] += getattr(row, name)
            if row.peg_change is not None:
                total.changes.append(row.peg_change)

    def rows(self, people: Sequence[Row[Any]], zone: ZoneInfo) -> Iterator[FidelityRow]:
        """Yield the coach rows, by month and then coach."""
        enrolled: dict[int, list[datetime]] = defaultdict(list)
        for person in people:
            enrolled[person.coach_id].append(person.enrolled_at)
        for moments in enrolled.values():
            moments.sort()
        for (month, coach_id), total in sorted(self.totals.items()):
            _, end = _month_bounds(month, zone)
            coach = FidelityRow("coach", month, coach_id, contacts=total.contacts)
            for name, count in total.drafts.items():
                setattr(coach, name, count)
            coach.met = total.met == total.judged if total.judged else None
            coach.ack_minutes = statistics.median(total.waits) if total.waits else None
            coach.caseload = bisect_left(enrolled[coach_id], end)
            coach.peg_change = statistics.median(total.changes) if total.changes else None
            coach.pairs_met, coach.pairs_judged = total.met, total.judged
            yield coach
