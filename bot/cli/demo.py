"""`peerline demo seed`: the demo data `make run` starts with."""

from __future__ import annotations

import click

from bot.cli import demo_data as demo
from bot.cli.common import fail, with_services
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
                   f"Sam ({demo.DEMO_PARTICIPANT_PHONE}) and Jo ({demo.DEMO_SECOND_PHONE})")
    else:
        click.echo("database already has coaches; nothing seeded (make demo-reset starts the "
                   "demo again)")


@demo_group.command("reset")
@with_services
def reset(services: Services) -> None:
    """Empty a demo database and seed the demo again (refused on a real program's data)."""
    try:
        demo.reset_demo(services)
    except demo.NotADemo as exc:
        fail(str(exc))
    click.echo("demo reset: Sam's draft is waiting again; log in as "
               f"{demo.DEMO_USERNAME} / {demo.DEMO_PASSWORD}")
