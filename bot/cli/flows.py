"""`peerline flows check|test` and `peerline chat`. PLACEHOLDER until the flow issue lands."""

from __future__ import annotations

import click


@click.group("flows")
def flows_group() -> None:
    """Check and test the program's flow files."""


def register(main: click.Group) -> None:
    """Add the flow commands to `main`."""
    main.add_command(flows_group)
