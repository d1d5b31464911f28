"""`peerline serve` (web + scheduler), `peerline scheduler` (alone) and `peerline tick --at`."""

from __future__ import annotations

import signal
import socket
import time
from datetime import datetime
from typing import Any

import click

from bot import create_app
from bot.cli.common import config_option, fail, open_services
from bot.cli.demo_data import demo_instructions
from bot.core.clock import FrozenClock, SystemClock
from bot.sending.sender import OutboxSender
from scheduler.jobs import run_all
from scheduler.runner import Runner, record_pass


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Print the demo login and how to text the bot.")
@click.option("--check-port", is_flag=True,
              help="Only check that the port is free (exit 1 with what to do if not).")
@config_option
def serve_command(host: str, port: int, demo: bool, check_port: bool,
                  config_path: str | None) -> None:
    """Run the web app (webhook and dashboard) and the scheduler in one process."""

    port_free(host, port)
    if check_port:
        return
    # check_database=False: it must start during an outage, to spool texts
    services = open_services(config_path, check_database=False, quiet=False)
    app = create_app(services=services)
    runner = Runner(services)
    runner.start()
    url = f"http://{host}:{port}/"
    click.echo(f"PeerLine is running: {url}  (Ctrl-C to stop)")
    if demo:
        click.echo(demo_instructions(url))
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        runner.stop()
        services.db.dispose()


@click.command("scheduler")
@config_option
def scheduler_command(config_path: str | None) -> None:
    """Run the scheduler alone (one acts; others stand by and take over when it dies)."""

    services = open_services(config_path, check_database=False, quiet=False)
    runner = Runner(services)

    def _stop(_signum: int, _frame: Any) -> None:
        runner._stop.set()

    signal.signal(signal.SIGTERM, _stop)
    click.echo(f"PeerLine scheduler {runner.holder} started (Ctrl-C to stop)")
    try:
        runner.serve_forever()
    except KeyboardInterrupt:
        runner.deactivate()
    finally:
        services.db.dispose()


def port_free(host: str, port: int) -> None:
    """Exit 1 with what to do unless `host:port` can be listened on."""
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
    try:
        probe.bind((host, port))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}): another PeerLine or "
             f"another program is using that port. Stop it, or pick a free port: "
             f"make run PORT={port + 1} (or peerline serve --port {port + 1})")
    finally:
        probe.close()


def parse_instant(text: str) -> datetime:
    """Return the aware instant of an ISO-8601 text ("Z" allowed); exit 1 if it is not one."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"--at {text!r} is not an ISO-8601 time, e.g. 2026-12-07T16:00:00+00:00")
        raise
    if when.tzinfo is None:
        fail(f"--at {text!r} needs a UTC offset, e.g. 2026-12-07T16:00:00+00:00")
    return when


@click.command("tick")
@click.option("--at", "at", default=None, metavar="ISO-8601",
              help="Run as if it were this instant (default: now).")
@config_option
def tick_command(at: str | None, config_path: str | None) -> None:
    """Run every scheduler job once as of --at, print what each did, and exit."""


    when = parse_instant(at) if at else SystemClock().now()
    services = open_services(config_path, clock=FrozenClock(when))
    sender = OutboxSender(services, name=f"tick:{when.isoformat()}")
    services.outbox_sender = sender
    try:
        click.echo(f"tick at {when.isoformat()}")
        t0 = time.perf_counter()
        results = run_all(services, services.clock.now())
        for job_id, summary in results:
            click.echo(f"{job_id}: {summary}")
        record_pass(services, "tick", sender.name, when, int((time.perf_counter() - t0) * 1000),
                    dict(results))
    finally:
        sender.stop()
        services.db.dispose()
    if any(summary.startswith("failed") for _, summary in results):
        raise SystemExit(1)


def register(main: click.Group) -> None:
    """Add the serving commands to `main`."""
    main.add_command(serve_command)
    main.add_command(scheduler_command)
    main.add_command(tick_command)
