"""Shared CLI plumbing: the --config option, building services, one-line refusals."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from bot.config import Config, ConfigError, load_config
from bot.logs import setup_logging
from bot.services import Services, build_services


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--config PATH` to a command (SPEC §5: after the command's own name)."""
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False), default=None,
        help="TOML config file (else $PEERLINE_CONFIG, ./config.toml, built-in defaults).",
    )(func)


def fail(message: str) -> None:
    """Print a one-line refusal and exit 1."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


def load(config_path: str | None) -> Config:
    """Load the config or exit 1 with the key that is wrong."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        fail(str(exc))
        raise  # unreachable
    setup_logging(config.logging.level, config.logging.json)
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


def open_services(config_path: str | None, **kwargs: Any) -> Services:
    """Build services from --config, exiting 1 on configuration errors."""
    config = load(config_path)
    try:
        return build_services(config, **kwargs)
    except ConfigError as exc:
        fail(str(exc))
        raise
