"""`peerline safety screen`: try texts against the live safety screen (SPEC §5, §10).

Rules: the same screen the webhook uses, the configured flows folder's
safety.yaml (the built-in screen when there is none), read by the same loader;
works with no config file at all; a safety.yaml with problems prints its
FILE:LINE problems to stderr and exits 1 (the webhook would refuse it too).
Each input line is screened on its own (no previous-text join) and printed
as `crisis|concern|none`, a tab, and the line.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import click

from bot.cli.common import config_option, fail
from bot.config import ConfigError, load_config
from bot.flows.folder import SAFETY_FILE
from bot.flows.safety import SafetyMatcher, load_safety


def _matcher(config_path: str | None) -> SafetyMatcher:
    """Return the configured screen, or exit 1 with the file's problems."""
    try:
        folder = Path(load_config(config_path).flows.dir)
    except ConfigError as exc:
        fail(str(exc))
        raise
    path = folder / SAFETY_FILE
    if not path.exists():
        click.echo(f"{path}: not found; using the built-in safety screen", err=True)
        return SafetyMatcher()
    matcher, report = load_safety(path)
    if matcher is None:
        for problem in report.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(report.problems)} problem(s) found; the webhook would refuse this "
                   "file too.", err=True)
        raise SystemExit(1)
    return matcher


@click.group("safety")
def safety_group() -> None:
    """Try texts against the safety screen."""


@safety_group.command("screen")
@config_option
def safety_screen(config_path: str | None) -> None:
    """Read texts from stdin, one per line; print crisis, concern or none, a tab, the text."""
    matcher = _matcher(config_path)
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    for line in stdin:
        text = line.rstrip("\r\n")
        click.echo(f"{matcher.screen(text).tier.value}\t{text}")


def register(main: click.Group) -> None:
    """Add the safety commands to the `peerline` group."""
    main.add_command(safety_group)
