"""Fidelity's SQL-counted figures against a plain recomputation, on a small random program.

The PEG changes come from SQL for tidy veterans and from checkins() for the rest; the
recount groups every answer in Python (peg.histories), so both paths meet the same oracle.
"""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.domain.contacts import REACHED
from bot.domain.fidelity import (
    FidelityRow,
    _month,
    _month_bounds,
    _months,
    coaches_with_rows,
    fidelity_rows,
    met_target,
)
from bot.domain.nudges import NudgeStatus
from bot.domain.peg import histories
from bot.domain.people import add_coach, add_participant
from bot.domain.program_arc import end_of
from bot.models import CheckinAnswer, Contact, Escalation, Nudge, Participant, Run
from tests.conftest import make_config

NOW = datetime(2027, 3, 1, 4, 30, tzinfo=UTC)  # still February in New York
ZONES = ("America/New_York", "America/Los_Angeles", "Pacific/Honolulu")


@pytest.fixture
def config(any_db_url):
    return make_config(any_db_url)


def _moment(rng: random.Random) -> datetime:
    """Return a random moment Oct 2026 - Feb 2027, often within hours of a month's edge."""
    if rng.random() < 0.4:
        edge = datetime(2026 + (m := rng.choice((11, 12, 13, 14))) // 13, (m - 1) % 12 + 1, 1,
                        tzinfo=UTC)
        return edge + timedelta(hours=rng.uniform(-8, 8))
    return datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(150 * 24 * 60))


def _build(s: Any, rng: random.Random) -> None:
    coaches = [add_coach(s, name=f"Coach {n}", phone=f"+1202555010{n}",
                         now=datetime(2026, 9, 1, tzinfo=UTC)) for n in range(3)]
    for n in range(9):
        p = add_participant(s, phone=f"+1202555012{n}", name=f"Vet {n}",
                            coach=rng.choice(coaches), timezone=rng.choice(ZONES),
                            now=min(_moment(rng), NOW - timedelta(days=1)))
        if rng.random() < 0.5:
            p.program_end_at = p.enrolled_at + timedelta(days=rng.randrange(20, 120))
        if rng.random() < 0.7:
            p.peg_baseline = {"score": rng.choice((4.0, 5.7, 7.3))}
        s.flush()
        for _k in range(rng.randrange(12)):
            s.add(Contact(participant_id=p.id, coach_id=p.coach_id, via="web",
                          kind=rng.choice(("call", "visit", "text", "tried")),
                          contact_at=(when := _moment(rng)), created_at=when))
        for k in range(rng.randrange(4)):
            created = _moment(rng)
            acked = created + timedelta(minutes=rng.randrange(1, 900)) \
                if rng.random() < 0.8 else None
            s.add(Escalation(participant_id=p.id, coach_id=p.coach_id, kind="flow", reason="x",
                             event_key=f"e{p.id}-{k}", created_at=created,
                             acknowledged_at=acked,
                             acknowledged_by_id=p.coach_id if acked else None))
        for k in range(rng.randrange(10)):
            status = rng.choice(("pending", "approved", "sent", "rejected", "expired",
                                 "cancelled"))
            decided = _moment(rng) if rng.random() < 0.7 else None
            s.add(Nudge(participant_id=p.id, coach_id=p.coach_id, reason="r", source="t",
                        body=rng.choice(("Hi", "Hi there")), original_body="Hi",
                        event_key=f"n{p.id}-{k}", status=status, due_at=_moment(rng),
                        decided_at=decided,
                        decided_by_id=p.coach_id if decided and rng.random() < 0.8 else None,
                        created_at=datetime(2026, 9, 1, tzinfo=UTC)))
        _peg_answers(s, p, rng)


QUIRKS = ("tidy", "tidy", "tidy", "no run", "words", "spelling", "twice", "tie", "all")


def _peg_answers(s: Any, p: Participant, rng: random.Random) -> None:
    """Save check-ins as the flows do (a run, pain/enjoyment/activity, 0-10), or with a quirk.

    A tidy veteran's answers are all the database can sum, so their PEG figures come from
    SQL; one quirk (answers with no run, words, another spelling, an item answered twice,
    two check-ins ending the same second) sends a veteran through checkins() instead.
    """
    quirk = rng.choice(QUIRKS)
    ended: list[datetime] = []
    for _k in range(rng.randrange(14)):
        tie = ended and quirk in ("tie", "all") and rng.random() < 0.3
        when = rng.choice(ended) if tie else _moment(rng)
        run_id = None
        if quirk not in ("no run", "all") or rng.random() < 0.5:
            run = Run(participant_id=p.id, flow_id="weekly_checkin", flow_version="v1",
                      status="ended", started_at=when, updated_at=when)
            s.add(run)
            s.flush()
            run_id = run.id
        items = rng.sample(["pain", "enjoyment", "activity"], rng.choice((3, 3, 3, 3, 2, 1)))
        if quirk in ("spelling", "all") and rng.random() < 0.4:
            items[0] = rng.choice(("peg_enjoyment", "Activity", "PAIN", "mood"))
        if quirk in ("twice", "all") and rng.random() < 0.4:
            items.append(rng.choice(items))
        odd = ["ten", " 6 ", "6.25", "1e1", "", "--2"] if quirk in ("words", "all") else []
        for n, item in enumerate(items):  # the last answer ends the check-in at `when`
            value = rng.choice(odd if odd and rng.random() < 0.3 else
                               ["3", "7.5", "0", "10", "6", "2", "9.5", "11", "-1"])
            at = when - timedelta(minutes=rng.randrange(1, 30)) if n < len(items) - 1 else when
            s.add(CheckinAnswer(participant_id=p.id, run_id=run_id, flow_id="weekly_checkin",
                                variable=item, value=value, answered_at=at))
        ended.append(when)


def _plain(s: Any, config: Any, now: datetime) -> list[FidelityRow]:
    """Recompute every figure the straightforward way: every row in Python."""
    zone = ZoneInfo(config.program.timezone)
    people = list(s.scalars(select(Participant).order_by(Participant.id)))
    contacts: dict[int, list[datetime]] = defaultdict(list)
    for c in s.scalars(select(Contact).where(Contact.kind.in_(REACHED))):
        contacts[c.participant_id].append(c.contact_at)
    pegs = histories(s, people)
    months = _months(_month(min(p.enrolled_at for p in people), zone), _month(now, zone))
    pairs: dict[tuple[str, int], FidelityRow] = {}
    for person in people:
        for month in months:
            start, end = _month_bounds(month, zone)
            if person.enrolled_at >= end:
                continue
            row = FidelityRow("pair", month, person.coach_id, person.id)
            mine = contacts[person.id]
            row.contacts = sum(start <= c < end for c in mine)
            stop = min(end, now, end_of(person, config))
            begin = max(start, person.enrolled_at)
            row.met = met_target(mine, begin, stop, config.program.contact_every.delta) \
                if stop > begin else None
            latest = [p for p in pegs[person.id] if p.at < end]
            baseline = (person.peg_baseline or {}).get("score")
            if latest and baseline is not None:
                row.peg_change = round(latest[-1].score - float(baseline), 1)
            pairs[(month, person.id)] = row
    for e in s.scalars(select(Escalation)):
        row = pairs.get((_month(e.created_at, zone), e.participant_id))
        if row is not None and e.acknowledged_at is not None:
            row.ack_waits.append((e.acknowledged_at - e.created_at).total_seconds() / 60)
            row.ack_minutes = statistics.median(row.ack_waits)
    for n in s.scalars(select(Nudge)):
        row = pairs.get((_month(n.decided_at or n.due_at, zone), n.participant_id))
        if row is None or n.status in (NudgeStatus.PENDING, NudgeStatus.CANCELLED):
            continue
        if n.status == NudgeStatus.REJECTED:
            row.rejected += 1
        elif n.status == NudgeStatus.EXPIRED and n.decided_by_id is None:
            row.expired += 1
        elif n.body != n.original_body:
            row.edited += 1
        else:
            row.approved += 1
    coaches = []
    for month, coach_id in sorted({(r.month, r.coach_id) for r in pairs.values()}):
        rows = [r for r in pairs.values() if (r.month, r.coach_id) == (month, coach_id)]
        coach = FidelityRow("coach", month, coach_id)
        coach.contacts = sum(r.contacts for r in rows)
        judged = [r.met for r in rows if r.met is not None]
        coach.met = all(judged) if judged else None
        waits = [w for r in rows for w in r.ack_waits]
        coach.ack_minutes = statistics.median(waits) if waits else None
        for name in ("approved", "edited", "rejected", "expired"):
            setattr(coach, name, sum(getattr(r, name) for r in rows))
        coach.caseload = sum(p.coach_id == coach_id and p.enrolled_at < _month_bounds(
            month, zone)[1] for p in people)
        changes = [r.peg_change for r in rows if r.peg_change is not None]
        coach.peg_change = statistics.median(changes) if changes else None
        coach.pairs_met, coach.pairs_judged = sum(bool(r.met) for r in rows), len(judged)
        coaches.append(coach)
    return [*pairs.values(), *coaches]


def _figures(rows: list[FidelityRow]) -> list[tuple[Any, ...]]:
    return [(*r.cells(), r.pairs_met, r.pairs_judged, sorted(r.ack_waits)) for r in rows]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_every_figure_matches_a_plain_recount(services, seed):
    with services.db.session() as s:
        _build(s, random.Random(seed))
    with services.db.session() as s:
        expected = _figures(_plain(s, services.config, NOW))
        assert _figures(fidelity_rows(s, services.config, NOW)) == expected
        # One coach's rows alone (the page works out only its coaches) are the same figures.
        coaches = coaches_with_rows(s, services.config, NOW)
        assert coaches == {row[2] for row in expected}
        for coach_id in coaches:
            assert _figures(fidelity_rows(s, services.config, NOW, coach_ids=[coach_id])) \
                == [row for row in expected if row[2] == coach_id]
