"""Start scheduled check-ins (SPEC §6.5): each flow's cron, in each participant's local time.

How it stays cheap and exact:
- The cron math runs once per (flow, time zone), on naive local wall-clock
  times, so daylight-saving changes never shift or repeat an occurrence. A
  local time that does not exist (spring forward) runs at the same offset it
  had before the change (02:30 → 03:30); an ambiguous one (fall back) runs
  once, at its first instant.
- An occurrence inside quiet hours is due when they end.
- Who is due is one indexed query per due occurrence: active participants of
  that zone, enrolled by the occurrence, without the occurrence's once-mark
  (`checkin:FLOW:LOCAL-TIME:PID`), which is written in the same transaction
  as the run, so an occurrence never starts twice. Once a whole zone is
  done, a zone mark (`checkins-done:...`) spares later passes even that query.
- Starting is set-based, CHUNK participants per transaction: one INSERT of
  once-marks that skips keys already there (ON CONFLICT DO NOTHING; a
  concurrent pass waits for the other's commit, then skips), and one batch
  of the runtime's writer (runtime.start_flows) for the participants whose
  mark is new. A chunk that fails is redone one participant at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import String, exists, literal, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from bot.core.db import insert_new
from bot.core.durations import QuietHours, quiet_hours_end
from bot.core.once import minute, once_key
from bot.domain.program_arc import STARTABLE, Status
from bot.models import OnceMark, Participant
from bot.runtime import apply as runtime
from bot.services import Services

log = logging.getLogger(__name__)
CATCH_UP = timedelta(hours=12)  # an occurrence missed for longer (scheduler down) is skipped
QUIET_WAIT = timedelta(hours=25)  # longer than any quiet-hours wait
CHUNK = 1000


@dataclass(frozen=True)
class Occurrence:
    """One firing of a flow's cron in one zone."""

    name: str  # the flow or schedule id
    zone: str
    local: datetime  # naive local wall-clock time
    at: datetime  # the aware UTC instant of `local`
    due: datetime  # `at`, or the end of quiet hours
    statuses: tuple[str, ...] = (Status.ACTIVE,)  # whose occurrence it is (trigger.statuses)

    @property
    def key_prefix(self) -> str:
        return once_key("checkin", self.name, minute(self.local), "")


def scheduled_flows(services: Services) -> list[tuple[str, str, tuple[str, ...]]]:
    """Return (flow id, cron, statuses) for every loaded flow with `trigger.schedule`."""
    store = services.flows
    if store is None:
        return []
    return [(str(flow.id), str(flow.schedule), tuple(flow.schedule_statuses))
            for flow in store.scheduled()]


def occurrences(key: str, cron: str, zone: str, quiet: QuietHours, earliest: datetime,
                latest: datetime, statuses: tuple[str, ...] = (Status.ACTIVE,)
                ) -> Iterator[Occurrence]:
    """Yield the occurrences of `cron` in `zone` due in (earliest, latest], quiet hours applied."""
    tz = ZoneInfo(zone)
    start = (earliest - QUIET_WAIT).astimezone(tz).replace(tzinfo=None) - timedelta(hours=3)
    end = latest.astimezone(tz).replace(tzinfo=None) + timedelta(hours=3)
    seen: set[datetime] = set()
    it = croniter(cron, start)
    while True:
        local = it.get_next(datetime)
        if local > end:
            return
        if local in seen:
            continue
        seen.add(local)
        at = local.replace(tzinfo=tz).astimezone(earliest.tzinfo)
        due = quiet_hours_end(quiet, at, zone)
        if earliest < due <= latest:
            yield Occurrence(key, zone, local, at, due, statuses)


def active_zones(services: Services) -> list[str]:
    """Return the time zones of participants flows may start for (one cron evaluation each)."""
    with services.db.session() as session:
        return sorted(z for z in session.scalars(
            select(Participant.timezone).where(Participant.status.in_(sorted(STARTABLE)))
            .distinct()) if z)


def _due_ids(services: Services, occ: Occurrence) -> list[int]:
    key = literal(occ.key_prefix, String) + sql_cast(Participant.id, String)
    with services.db.session() as session:
        return list(session.scalars(
            select(Participant.id).where(
                Participant.status.in_(occ.statuses), Participant.timezone == occ.zone,
                Participant.enrolled_at <= occ.at,
                ~exists().where(OnceMark.key == key))
            .order_by(Participant.id)))


def zone_done(services: Services, key: str) -> bool:
    """Tell whether a whole (occurrence, zone) was handled already (skips the participant query)."""
    with services.db.session() as session:
        return session.get(OnceMark, key) is not None


def mark_zone_done(services: Services, key: str, now: datetime) -> None:
    """Record that every participant of an (occurrence, zone) was handled."""
    try:
        with services.db.session() as session:
            session.add(OnceMark(key=key, created_at=now))
    except IntegrityError:
        pass  # a concurrent pass recorded it first


def _start_chunk(services: Services, occ: Occurrence, ids: list[int], now: datetime) -> int:
    """Start the chunk in one transaction with bulk writes, no savepoints (the fast path)."""

    with services.db.session() as session:
        people = [p for p in session.scalars(select(Participant).where(Participant.id.in_(ids))
                                             .options(selectinload(Participant.coach)))
                  if p.status in occ.statuses]
        claimed = insert_new(session, OnceMark, [
            {"key": f"{occ.key_prefix}{p.id}", "created_at": now} for p in people], "key")
        people = [p for p in people if f"{occ.key_prefix}{p.id}" in claimed]
        runtime.start_flows(session, services, people, occ.name, now, trigger="schedule")
        return len(people)


def _start_one_by_one(services: Services, occ: Occurrence, ids: list[int],
                      now: datetime) -> tuple[int, int]:
    """Start the chunk participant by participant, each in a savepoint (after a failure)."""

    started = failed = 0
    with services.db.session() as session:
        for participant in session.scalars(select(Participant).where(Participant.id.in_(ids))):
            if participant.status not in occ.statuses:
                continue
            try:
                with session.begin_nested():
                    session.add(OnceMark(key=f"{occ.key_prefix}{participant.id}", created_at=now))
                    session.flush()
                    runtime.start_flow(session, services, participant, occ.name, now,
                                       trigger="schedule")
                started += 1
            except IntegrityError:
                continue  # another pass started this occurrence first
            except Exception:  # noqa: BLE001 - one broken participant must not stop the rest
                failed += 1
                log.exception("check-in %s for participant %s failed", occ.name,
                              participant.id)
    return started, failed


def _start(services: Services, occ: Occurrence, ids: list[int], now: datetime) -> tuple[int, int]:
    try:
        return _start_chunk(services, occ, ids, now), 0
    except Exception:  # noqa: BLE001 - a clash or a broken participant: redo one by one
        log.info("check-in chunk of %d for %s failed; retrying one by one", len(ids), occ.name)
        return _start_one_by_one(services, occ, ids, now)


def due_checkins(services: Services, now: datetime) -> str:
    """Start every scheduled flow whose occurrence is due for its active participants."""
    flows = scheduled_flows(services)
    if not flows:
        return "no scheduled flows"
    quiet = services.config.program.quiet_hours
    started = 0
    zones = active_zones(services)
    for flow_id, cron, statuses in flows:
        for zone in zones:
            for occ in occurrences(flow_id, cron, zone, quiet, now - CATCH_UP, now, statuses):
                done_key = once_key("checkins-done", occ.name, minute(occ.local), zone)
                if zone_done(services, done_key):
                    continue
                ids, failed = _due_ids(services, occ), 0
                for i in range(0, len(ids), CHUNK):
                    ok, bad = _start(services, occ, ids[i:i + CHUNK], now)
                    started, failed = started + ok, failed + bad
                if not failed:
                    mark_zone_done(services, done_key, now)
    return f"{started} check-ins started"
