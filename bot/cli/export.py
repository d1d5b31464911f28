"""`peerline export KIND`: streamed to stdout from a reading transaction, then audited."""

from __future__ import annotations

import sys
from contextlib import closing

import click
from sqlalchemy.orm import Session

from bot.cli.common import with_services
from bot.domain.audit import audit
from bot.domain.export import KINDS, ExportOptions, audit_detail, stream, text_variables
from bot.services import Services


@click.command("export")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--format", "fmt", type=click.Choice(["csv"]), default="csv", show_default=True)
@click.option("--include-free-text", is_flag=True,
              help="Also export what veterans wrote in their own words (audit-logged).")
@with_services
def export_command(services: Services, kind: str, fmt: str, include_free_text: bool) -> None:
    """Write a de-identified research export (participant ids; no names or phones) to stdout."""
    flows = services.flows.flows() if services.flows is not None else []
    options = ExportOptions(include_free_text=include_free_text,
                            text_variables=text_variables(flows), config=services.config,
                            now=services.clock.now())

    def record(session: Session, rows: int, complete: bool) -> None:
        audit(session, "export", services.clock.now(), via="cli", target_type=kind,
              **audit_detail(rows, include_free_text, complete))

    with closing(stream(services.db, kind, options, record)) as chunks:  # audited if cut short
        for chunk in chunks:
            sys.stdout.write(chunk)


def register(main: click.Group) -> None:
    """Add the export command to `main`."""
    main.add_command(export_command)
