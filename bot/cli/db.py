"""`peerline db upgrade`."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import config_option, fail, load, unreachable
from bot.core.db import make_engine, upgrade


@click.group("db")
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@config_option
def upgrade_command(config_path: str | None) -> None:
    """Create or migrate the schema to the latest version."""

    config = load(config_path)
    try:
        engine = make_engine(config.database.url)
    except OSError as exc:  # the SQLite file's folder cannot be created
        fail(unreachable(config, exc))
        raise
    try:
        engine.connect().close()
    except SQLAlchemyError as exc:
        fail(unreachable(config, exc))
    finally:
        engine.dispose()
    upgrade(config.database.url)
    click.echo("database is up to date")


def register(main: click.Group) -> None:
    """Add the db commands to `main`."""
    main.add_command(db_group)
