"""Run the scheduler's jobs through virtual time, moment by moment, as production would.

For `flows test` scenarios that set `scheduler: true` (a whole program arc in
seconds) and for tests. Rules:
- The clock moves only forward, to each moment something can become due in
  turn: a step's timeout or a run's expiry, the next occurrence of a scheduled
  flow in each participant's zone (quiet hours applied), a participant's next
  program week and program end, and the end of quiet hours (when the arc job
  waits for it). At each moment the same jobs `peerline tick` runs start what is
  due (check-ins, program weeks and ends, timeouts, expiries); the outbox is not
  drained, so what was queued stays readable.
- The clock ends exactly at the target, whatever happened on the way.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.core.clock import FrozenClock
from bot.core.durations import quiet_hours_end
from bot.domain.program_arc import STARTABLE, WEEK
from bot.models import Participant, Run
from bot.runtime.states import RunStatus
from bot.services import Services
from scheduler.checkins import occurrences, scheduled_flows
from scheduler.jobs import run_job

JOBS = ("program_arc", "checkins", "timeouts", "expiries")
MAX_MOMENTS = 100_000  # a guard against a moment that never moves the clock


def _run_moments(services: Services, now: datetime, target: datetime) -> Iterator[datetime]:
    with services.db.session() as session:
        for column in (Run.timeout_at, Run.expires_at):
            moment = session.scalar(select(func.min(column)).where(
                Run.status == RunStatus.ACTIVE, column > now))
            if moment is not None:
                yield moment
        people = list(session.execute(select(
            Participant.enrolled_at, Participant.program_end_at, Participant.timezone)
            .where(Participant.status.in_(sorted(STARTABLE)))))
    quiet = services.config.program.quiet_hours
    for enrolled_at, end_at, zone in people:
        weeks_in = (now - enrolled_at) // WEEK + 1
        yield enrolled_at + weeks_in * WEEK
        if end_at is not None and end_at > now:
            yield end_at
        quiet_end = quiet_hours_end(quiet, now, zone)
        if quiet_end > now:  # the arc waits for the end of quiet hours
            yield quiet_end


def _cron_moments(services: Services, now: datetime, target: datetime) -> Iterator[datetime]:
    quiet = services.config.program.quiet_hours
    with services.db.session() as session:
        zones = set(session.scalars(select(Participant.timezone).distinct()))
    for flow_id, cron, statuses in scheduled_flows(services):
        for zone in zones:
            for occ in occurrences(flow_id, cron, zone, quiet, now, target, statuses):
                yield occ.due
                break


def advance(services: Services, clock: FrozenClock, delta: timedelta) -> int:
    """Move `clock` forward by `delta`, running the due jobs at each moment; return moments."""
    target = clock.now() + delta
    moments = 0
    while moments < MAX_MOMENTS:
        now = clock.now()
        ahead = [m for m in (*_run_moments(services, now, target),
                             *_cron_moments(services, now, target)) if now < m <= target]
        if not ahead:
            break
        clock.set(min(ahead))
        for job_id in JOBS:
            run_job(services, job_id, clock.now())
        moments += 1
    clock.set(target)
    return moments
