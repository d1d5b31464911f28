"""`peerline export KIND`: streamed to stdout from a reading transaction, then audited.

The export runs at a lower CPU priority than the webhook (bot/core/priority.py):
on a busy server it waits for the CPU, a veteran's text does not.
"""

from __future__ import annotations

import logging
import sys
import threading
from contextlib import closing
from pathlib import Path

import click
from sqlalchemy.orm import Session

from bot.cli.common import config_option, open_services
from bot.core.priority import run_at_low_priority
from bot.domain.audit import audit
from bot.domain.export import KINDS, ExportOptions, audit_detail, stream, text_variables
from bot.flows.folder import load_folder

log = logging.getLogger(__name__)


@click.command("export")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--format", "fmt", type=click.Choice(["csv"]), default="csv", show_default=True)
@click.option("--include-free-text", is_flag=True,
              help="Also export what veterans wrote in their own words (audit-logged).")
@config_option
def export_command(kind: str, fmt: str, include_free_text: bool,
                   config_path: str | None = None) -> None:
    """Write a de-identified research export (participant ids; no names or phones) to stdout."""
    # The flows' free-text steps are all an export needs of them: not the safety screen,
    # whose compiled phrases would be a sixth of the command's memory.
    services = open_services(config_path, load_flows=False)
    try:
        flows = load_folder(Path(services.config.flows.dir), safety=False).valid()
        log.info("flows read for their free-text steps: %s",
                 ", ".join(sorted(f.id for f in flows)) or "none")
        options = ExportOptions(include_free_text=include_free_text,
                                text_variables=text_variables(flows), config=services.config,
                                now=services.clock.now())

        def record(session: Session, rows: int, complete: bool) -> None:
            audit(session, "export", services.clock.now(), via="cli", target_type=kind,
                  **audit_detail(rows, include_free_text, complete))

        def write_all(stopping: threading.Event) -> None:
            with closing(stream(services.db, kind, options, record)) as chunks:  # audited if cut
                for chunk in chunks:
                    if stopping.is_set():
                        break
                    sys.stdout.write(chunk)

        run_at_low_priority(write_all)
    finally:
        services.db.dispose()


def register(main: click.Group) -> None:
    """Add the export command to `main`."""
    main.add_command(export_command)
