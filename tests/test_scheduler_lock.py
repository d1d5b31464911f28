"""One active scheduler: two started at once → one acts; a standby takes over when it dies."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import inspect, select

from bot import create_app
from bot.core.db import Database
from bot.models import SchedulerState
from bot.services import build_services
from scheduler.jobs import JOBS
from scheduler.locking import lock_for
from scheduler.runner import Runner
from tests.conftest import START, RecordingSender, make_config

HOLD_LOCK = """
import sys
from bot.core.db import Database
from scheduler.locking import lock_for
lock = lock_for(Database(sys.argv[1]))
print("locked" if lock.acquire() else "busy", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def two(any_db_url):
    from bot.core.clock import FrozenClock

    made = [build_services(make_config(any_db_url), clock=FrozenClock(START),
                           sender=RecordingSender()) for _ in range(2)]
    runners = [Runner(s, holder=f"scheduler-{n}") for n, s in enumerate(made)]
    yield runners
    for runner in runners:
        runner.deactivate()
    for services in made:
        services.db.dispose()


def _job_ran(runner, job_id, wait=20.0):
    """Wait until the liveness row of `job_id` names `runner`; return whether it did."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with runner.services.db.session() as session:
            state = session.get(SchedulerState, f"job:{job_id}")
            if state is not None and state.holder == runner.holder:
                return True
        time.sleep(0.2)
    return False


def test_two_schedulers_started_at_once_only_one_acts(two):
    gate = threading.Barrier(2)
    results: dict[str, bool] = {}

    def start(runner):
        gate.wait()
        results[runner.holder] = runner.try_activate()

    threads = [threading.Thread(target=start, args=(r,)) for r in two]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results.values()) == [False, True]
    active = next(r for r in two if results[r.holder])
    standby = next(r for r in two if not results[r.holder])
    assert {job.id for job in active.apscheduler.get_jobs()} == set(JOBS)
    assert all(job.max_instances == 1 and job.coalesce for job in active.apscheduler.get_jobs())
    assert all(job.func == active.run for job in active.apscheduler.get_jobs())  # bound, in memory
    assert _job_ran(active, "timeouts")  # APScheduler itself ran a job through the bound method
    with active.services.db.engine.connect() as conn:
        assert "apscheduler_jobs" not in inspect(conn).get_table_names()
    assert standby.apscheduler is None and standby.sender is None
    assert standby.run("checkins") == "standby"
    assert active.run("checkins") != "standby"
    with active.services.db.session() as session:
        state = session.get(SchedulerState, "scheduler")
        assert state.holder == active.holder and state.last_pass_at == START

    active.deactivate()  # the active one stops: the standby takes over
    assert standby.try_activate()
    assert not active.try_activate()


def test_healthz_shows_the_scheduler_pass(two):
    runner = two[0]
    assert runner.try_activate()
    runner.run("timeouts")
    app = create_app(services=runner.services)
    body = app.test_client().get("/healthz").get_json()
    assert body["scheduler"]["state"] == "ok" and body["scheduler"]["holder"] == runner.holder


def test_a_killed_holder_releases_the_lock(any_db_url):
    database = Database(any_db_url)
    lock = lock_for(database)
    with subprocess.Popen([sys.executable, "-c", HOLD_LOCK, any_db_url], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            assert not lock.acquire()
            holder.kill()  # kill -9: no clean-up runs in the holder
            holder.wait(30)
            assert lock.acquire()
            assert lock.held()
        finally:
            if holder.poll() is None:
                holder.kill()
            lock.release()
            database.dispose()


def test_scheduler_state_is_one_row_per_name(two):
    runner = two[0]
    assert runner.try_activate()
    for job_id in ("checkins", "timeouts"):
        runner.run(job_id)
    with runner.services.db.session() as session:
        names = set(session.scalars(select(SchedulerState.name)))
    assert {"scheduler", "job:checkins", "job:timeouts"} <= names
