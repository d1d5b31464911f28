"""The `peerline` command line: one click group, one module per area."""

from __future__ import annotations

import click

from bot.cli import chat as chat_commands
from bot.cli import db as db_commands
from bot.cli import export as export_commands
from bot.cli import flows as flows_commands
from bot.cli import people as people_commands
from bot.cli import purge as purge_commands
from bot.cli import safety as safety_commands
from bot.cli import serve as serve_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True,
              help="Show INFO log lines (e.g. 'flows loaded') on one-shot commands.")
def main(verbose: bool) -> None:
    """PeerLine: peer-coached pain self-management by SMS."""


for module in (db_commands, people_commands, export_commands, serve_commands, flows_commands,
               safety_commands, chat_commands, purge_commands):
    module.register(main)
