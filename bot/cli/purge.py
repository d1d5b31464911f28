"""`peerline purge [--at ISO]`: blank message bodies older than [data] retention."""

from __future__ import annotations

import click

from bot.cli.common import config_option, open_services
from bot.cli.serve import parse_instant
from bot.domain.retention import describe, purge


@click.command("purge")
@click.option("--at", "at", default=None, metavar="ISO-8601",
              help="Purge as if it were this instant (default: now).")
@config_option
def purge_command(at: str | None, config_path: str | None) -> None:
    """Blank texts older than [data] retention; keep scores, timings and counts (audited)."""
    services = open_services(config_path)
    try:
        when = parse_instant(at) if at else services.clock.now()
        with services.db.session() as session:
            counts = purge(session, services, when, actor="cli")
        click.echo(describe(counts))
    finally:
        services.db.dispose()


def register(main: click.Group) -> None:
    """Add the purge command to `main`."""
    main.add_command(purge_command)
