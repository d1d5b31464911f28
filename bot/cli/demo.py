"""`peerline demo seed`: the demo data `make run` starts with."""

from __future__ import annotations

import click

from bot.cli import demo_data as demo
from bot.cli.common import with_services
from bot.services import Services


@click.group("demo")
def demo_group() -> None:
    """Demo data for trying PeerLine locally."""


@demo_group.command("seed")
@with_services
def seed(services: Services) -> None:
    """Seed a demo coach, staff member, veteran and draft if the database is empty."""
    if demo.seed_demo(services):
        click.echo(f"seeded demo coach (login {demo.DEMO_USERNAME} / {demo.DEMO_PASSWORD}), "
                   f"staff ({demo.DEMO_STAFF_USERNAME} / {demo.DEMO_PASSWORD}) and veteran "
                   f"Sam ({demo.DEMO_PARTICIPANT_PHONE})")
    else:
        click.echo("database already has coaches; nothing seeded")
