"""`peerline serve` (the scheduler issue adds `scheduler` and `tick`)."""

from __future__ import annotations

import click

from bot.cli.common import config_option, open_services


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Print the demo login and how to text the bot.")
@config_option
def serve_command(host: str, port: int, demo: bool, config_path: str | None) -> None:
    """Run the web app (webhook and dashboard)."""
    from bot import create_app

    services = open_services(config_path)
    app = create_app(services=services)
    url = f"http://{host}:{port}/"
    click.echo(f"PeerLine is running: {url}  (Ctrl-C to stop)")
    if demo:
        from bot.demo import demo_instructions

        click.echo(demo_instructions(url))
    app.run(host=host, port=port, threaded=True, use_reloader=False)


def register(main: click.Group) -> None:
    """Add the serving commands to `main`."""
    main.add_command(serve_command)
