"""Shared CLI plumbing: the --config option, building services, one-line refusals."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn

import click
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.core.config import Config, ConfigError, load_config
from bot.core.db import Database, alembic_config
from bot.core.logs import setup_logging
from bot.services import Services, build_services


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--config PATH` to a command (SPEC §5: after the command's own name)."""
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False), default=None,
        help="TOML config file (else $PEERLINE_CONFIG, ./config.toml, built-in defaults).",
    )(func)


def fail(message: str) -> NoReturn:
    """Print a one-line refusal and exit 1."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


def verbose() -> bool:
    """Return whether `peerline -v` was given (INFO log lines on one-shot commands)."""
    context = click.get_current_context(silent=True)
    return bool(context and context.find_root().params.get("verbose"))


def load(config_path: str | None, *, quiet: bool = True) -> Config:
    """Load the config or exit 1 with the key that is wrong.

    One-shot commands are `quiet`: their log lines start at WARNING unless
    `peerline -v`, so the answer is not buried under INFO chatter. The
    servers (`serve`, `scheduler`) log at the configured level.
    """
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        fail(str(exc))
        raise  # unreachable
    level = config.logging.level
    if quiet and not verbose() and level in ("DEBUG", "INFO"):
        level = "WARNING"
    setup_logging(level, config.logging.json)
    return config


def with_services(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give the command `services` built from --config (and dispose of them after)."""

    @config_option
    @functools.wraps(func)
    def wrapper(*args: Any, config_path: str | None = None, **kwargs: Any) -> Any:
        services = open_services(config_path)
        try:
            return func(*args, services=services, **kwargs)
        finally:
            services.db.dispose()

    return wrapper


def open_services(config_path: str | None, *, check_database: bool = True,
                  quiet: bool = True, **kwargs: Any) -> Services:
    """Build services from --config, exiting 1 on configuration errors.

    With `check_database` (all but `serve` and `scheduler`, which must start
    during an outage to spool texts), an unreachable or unmigrated database
    is a one-line refusal here instead of a traceback at the first query.
    """
    config = load(config_path, quiet=quiet)
    try:
        services = build_services(config, **kwargs)
    except ConfigError as exc:
        fail(str(exc))
        raise
    except OSError as exc:  # e.g. the SQLite file's folder cannot be created
        fail(unreachable(config, exc))
        raise
    if check_database:
        try:
            require_schema(services.db, config)
        except BaseException:
            services.db.dispose()
            raise
    return services


def unreachable(config: Config, exc: Exception) -> str:
    """Say that the database could not be reached, why, and which setting to check."""

    cause = getattr(exc, "orig", None) or exc
    reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200]
    try:
        where = make_url(config.database.url).render_as_string(hide_password=True)
    except Exception:  # a URL SQLAlchemy cannot parse is named by the key alone
        where = "the configured URL"
    return (f"cannot reach the database at {where} ({reason}); check [database] url "
            f"(or PEERLINE_DATABASE_URL) and that the database server is running")


def upgrade_hint(config: Config) -> str:
    """Return the `peerline db upgrade` command line for this config."""
    where = "" if config.source == "defaults" else f" --config {config.source}"
    return f"peerline db upgrade{where}"


def require_schema(db: Database, config: Config) -> None:
    """Exit 1 with one line unless the database is reachable and migrated to the latest schema."""

    try:
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as exc:
        fail(unreachable(config, exc))
    heads = set(ScriptDirectory.from_config(alembic_config(db.url)).get_heads())
    if not current:
        fail(f"the database has no PeerLine tables yet; run: {upgrade_hint(config)}")
    if current != heads:
        fail(f"the database schema is not the one this version needs "
             f"({', '.join(sorted(current))}, not {', '.join(sorted(heads))}); "
             f"run: {upgrade_hint(config)}")
