"""Run the jobs under APScheduler in the one active scheduler process; others stand by.

- Jobs live in APScheduler's memory job store, recreated at every start, with
  fixed ids (`scheduler.jobs.JOBS`), `coalesce=True` and `max_instances=1`.
  A job is the bound method `Runner.run(job_id)`: nothing is pickled or stored.
- Only the holder of the scheduler lock (scheduler.locking) starts
  APScheduler and the outbox sender; a standby retries every
  `STANDBY_RETRY_SECONDS` and takes over when the holder dies.
- Each pass records liveness in `scheduler_state` (name "scheduler": holder,
  last_pass_at, last_duration_ms; name "job:ID" per job), read by /healthz.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import IntegrityError

from bot.models import SchedulerState
from bot.sending.sender import OutboxSender
from bot.services import Services
from scheduler.jobs import JOBS
from scheduler.jobs import run_job as run_job_now
from scheduler.locking import SchedulerLock, lock_for

log = logging.getLogger(__name__)
STANDBY_RETRY_SECONDS = 10.0


def record_pass(services: Services, name: str, holder: str, started: datetime, duration_ms: int,
                detail: dict[str, Any] | None = None) -> None:
    """Write one liveness row (insert or update)."""
    for _ in range(2):
        try:
            with services.db.session() as session:
                state = session.get(SchedulerState, name, with_for_update=True)
                if state is None:
                    state = SchedulerState(name=name, detail={})
                    session.add(state)
                state.holder = holder
                state.last_pass_at = started
                state.last_duration_ms = duration_ms
                state.detail = detail or {}
            return
        except IntegrityError:
            continue  # two writers inserted at once; update the row the other one made


class Runner:
    """One scheduler process: lock, APScheduler, outbox sender, liveness."""

    def __init__(self, services: Services, *, lock: SchedulerLock | None = None,
                 holder: str | None = None):
        self.services = services
        self.lock = lock or lock_for(services.db)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.sender: OutboxSender | None = None
        self.apscheduler: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self.apscheduler is not None

    def run(self, job_id: str) -> str:
        """Run one job now if this runner holds the lock; record its liveness."""
        if not self.lock.held():
            return "standby"
        clock = self.services.clock
        started = clock.now()
        t0 = time.perf_counter()
        summary = run_job_now(self.services, job_id, started)
        duration = int((time.perf_counter() - t0) * 1000)
        record_pass(self.services, f"job:{job_id}", self.holder, started, duration,
                    {"summary": summary})
        record_pass(self.services, "scheduler", self.holder, started, duration,
                    {"last_job": job_id})
        return summary

    def try_activate(self) -> bool:
        """Take the lock if free and start the jobs and the sender; return whether active."""
        if self.active:
            if self.lock.held():
                return True
            self.deactivate()
        if not self.lock.acquire():
            return False
        log.info("scheduler %s is active", self.holder)
        self.sender = OutboxSender(self.services)
        self.services.outbox_sender = self.sender
        self.services.db.wakers.append(self.sender.wake)
        self.sender.start()
        self.apscheduler = self._start_apscheduler()
        return True

    def _start_apscheduler(self) -> Any:
        interval = max(1, int(self.services.config.scheduler.interval_seconds))
        scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": interval},
            timezone=UTC,
        )
        for job_id in JOBS:
            scheduler.add_job(self.run, "interval", seconds=interval, args=[job_id], id=job_id,
                              name=job_id, next_run_time=datetime.now(UTC))
        scheduler.start()
        return scheduler

    def deactivate(self) -> None:
        """Stop acting: shut APScheduler and the sender down and give the lock back."""
        if self.apscheduler is not None:
            self.apscheduler.shutdown(wait=True)
            self.apscheduler = None
        if self.sender is not None:
            if self.sender.wake in self.services.db.wakers:
                self.services.db.wakers.remove(self.sender.wake)
            self.services.outbox_sender = None
            self.sender.stop()
            self.sender = None
        self.lock.release()

    def serve_forever(self) -> None:
        """Stand by or act until stop(): check the lock every STANDBY_RETRY_SECONDS."""
        while not self._stop.is_set():
            try:
                if not self.try_activate():
                    log.debug("scheduler %s standing by", self.holder)
            except Exception:  # noqa: BLE001 - e.g. the database restarting
                log.exception("scheduler could not check its lock; retrying")
            self._stop.wait(STANDBY_RETRY_SECONDS)
        self.deactivate()

    def start(self) -> None:
        """Run serve_forever() in a background thread (`peerline serve`)."""
        self._thread = threading.Thread(target=self.serve_forever, name="peerline-scheduler",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop acting and standing by."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            self._thread = None
