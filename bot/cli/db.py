"""`peerline db upgrade`."""

from __future__ import annotations

import click

from bot.cli.common import config_option, load
from bot.db import upgrade


@click.group("db")
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@config_option
def upgrade_command(config_path: str | None) -> None:
    """Create or migrate the schema to the latest version."""
    config = load(config_path)
    upgrade(config.database.url)
    click.echo("database is up to date")


def register(main: click.Group) -> None:
    """Add the db commands to `main`."""
    main.add_command(db_group)
