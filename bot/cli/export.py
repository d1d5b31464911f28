"""`peerline export KIND`."""

from __future__ import annotations

import sys

import click

from bot.cli.common import with_services
from bot.domain.audit import audit
from bot.domain.export import KINDS, write_csv
from bot.services import Services


@click.command("export")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--format", "fmt", type=click.Choice(["csv"]), default="csv", show_default=True)
@with_services
def export_command(services: Services, kind: str, fmt: str) -> None:
    """Write a research export (participant ids, no phone numbers) to stdout."""
    with services.db.session() as session:
        count = write_csv(session, kind, sys.stdout, services.config, services.clock.now())
        audit(session, "export", services.clock.now(), via="cli", target_type=kind, rows=count)


def register(main: click.Group) -> None:
    """Add the export command to `main`."""
    main.add_command(export_command)
