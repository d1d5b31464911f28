"""`peerline flows check|test`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from bot.cli.common import config_option, fail
from bot.cli.scenarios import run_path
from bot.core.config import ConfigError, load_config
from bot.flows.folder import check_path


def _default_dir(config_path: str | None) -> Path:
    """Return [flows] dir; a config that is there but wrong is refused, not skipped."""
    try:
        return Path(load_config(config_path).flows.dir)
    except ConfigError as exc:
        fail(str(exc))
        raise


@click.group("flows")
def flows_group() -> None:
    """Check and test the program's flow files."""


@flows_group.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@config_option
def flows_check(path: Path | None, config_path: str | None) -> None:
    """Validate flow files; print one FILE:LINE: message per problem."""

    target = path or _default_dir(config_path)
    problems = check_path(target)
    for line in problems:
        click.echo(line)
    if problems:
        click.echo(f"{len(problems)} problem(s) found.", err=True)
        raise SystemExit(1)
    click.echo(f"{target}: all flow files are valid.")


@flows_group.command("test")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@config_option
def flows_test(path: Path | None, config_path: str | None) -> None:
    """Run the scenario files (flows/tests/*.yaml); exit 1 with a diff on failure."""

    target = path or _default_dir(config_path)
    store_log = logging.getLogger("bot.flows.store")
    level = store_log.level
    store_log.setLevel(logging.CRITICAL)  # each refusal is printed once, below
    try:
        results = run_path(target)
    finally:
        store_log.setLevel(level)
    failed = [r for r in results if not r.ok]
    for failure, names in _grouped(failed).items():
        click.echo(failure)
        if len(names) > 1:  # one cause (e.g. a flow file with a problem) fails many cases
            click.echo(f"  (this failed {len(names)} cases: {', '.join(names)})")
        click.echo("")
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed.")
    if failed or not results:
        if not results:
            click.echo(f"no scenario files found under {target}", err=True)
        raise SystemExit(1)


def _grouped(failed: list[Any]) -> dict[str, list[str]]:
    """Return {failure text: case names}: a failure that repeats word for word prints once."""
    groups: dict[str, list[str]] = {}
    for result in failed:
        groups.setdefault(result.failure, []).append(f'"{result.name}"')
    return groups


def register(main: click.Group) -> None:
    """Add the flow commands to `main`."""
    main.add_command(flows_group)
