"""Consent: the record at enrolment, withdrawal by staff (CLI and dashboard), texts stop."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from bot.domain.nudges import approve, get_for
from bot.models import AuditLog, Coach, ConsentEvent, Message, Nudge, Outbox, Participant
from bot.outbox.queue import queue_message
from scheduler.jobs import run_all
from tests.conftest import START
from tests.dashboard_support import Visitor, world

__all__ = ["world"]
REPO = Path(__file__).resolve().parent.parent


def _cli(services: Any, *args: str) -> Any:
    config = Path("consent.toml")
    config.write_text(f'[database]\nurl = "{services.config.database.url}"\n\n'
                      f'[flows]\ndir = "{REPO / "flows"}"\n\n[program]\nconsent_version = "v3"\n')
    config.chmod(0o600)  # it may hold a database password
    return CliRunner().invoke(main, [*args, "--config", str(config)])


def test_enrolment_records_the_consent_version_and_time(services: Any,
                                                        people: dict[str, int]) -> None:
    default = _cli(services, "participant", "add", "--phone", "+12025550131", "--name",
                   "Pat Doe", "--coach", "+12025550101")
    given = _cli(services, "participant", "add", "--phone", "+12025550132", "--name",
                 "Lee Roe", "--coach", "+12025550101", "--consent-version", "2026-11 IRB#42")
    assert default.exit_code == 0 and given.exit_code == 0, (default.output, given.output)
    with services.db.session() as db:
        found = {p.name: p for p in db.scalars(select(Participant))}
        assert found["Pat Doe"].consent_version == "v3" and found["Pat Doe"].consented_at
        assert found["Lee Roe"].consent_version == "2026-11 IRB#42"
        events = db.scalars(select(ConsentEvent).where(ConsentEvent.kind == "enrolled",
                                                       ConsentEvent.participant_id.in_(
                                                           [found["Lee Roe"].id]))).all()
        assert [e.version for e in events] == ["2026-11 IRB#42"]


def _queue_for_sam(services: Any, world: dict[str, int]) -> int:
    with services.db.session() as db:
        sam = db.get(Participant, world["sam"])
        alex = db.get(Coach, world["alex"])
        approve(db, get_for(db, world["sam_draft1"], alex), alex, START)
        return queue_message(db, phone=sam.phone, body="Hello Sam", kind="reply", now=START,
                             participant=sam).id


def _texts_stop(services: Any, sender: Any, world: dict[str, int], reason: str) -> None:
    with services.db.session() as db:
        sam = db.get(Participant, world["sam"])
        assert sam.status == "withdrawn" and sam.withdrawn_at is not None
        assert sam.withdrawal_reason == reason
        assert db.scalars(select(ConsentEvent.kind).where(
            ConsentEvent.participant_id == sam.id)).all()[-1] == "withdrawn"
        assert db.scalar(select(AuditLog).where(AuditLog.action == "participant.withdraw"))
        assert {n.status for n in db.scalars(select(Nudge).where(
            Nudge.participant_id == sam.id))} <= {"cancelled", "rejected", "sent", "expired"}
    for hours in (1, 24, 24 * 8):
        run_all(services, START + timedelta(hours=hours))
    assert sender.bodies_to("+12025550123") == []
    with services.db.session() as db:
        states = set(db.scalars(select(Outbox.state).join(Message).where(
            Message.participant_id == world["sam"])))
        assert states <= {"cancelled"}


def test_withdrawal_by_cli_stops_texts_and_is_flagged_in_exports(
        services: Any, sender: Any, world: dict[str, int]) -> None:
    _queue_for_sam(services, world)
    result = _cli(services, "participant", "withdraw", "--phone", "(202) 555-0123",
                  "--reason", "moved away")
    assert result.exit_code == 0, result.output
    assert "withdrew" in result.output
    _texts_stop(services, sender, world, "moved away")
    export = _cli(services, "export", "messages")
    rows = list(csv.DictReader(io.StringIO(export.stdout, newline="")))
    assert {r["withdrawn"] for r in rows if r["participant_id"] == str(world["sam"])} == {"1"}
    again = _cli(services, "participant", "withdraw", "--phone", "+12025550123",
                 "--reason", "twice")
    assert again.exit_code == 1 and "already withdrew" in again.output


def test_withdrawal_on_the_dashboard_is_staff_only(client: Any, services: Any, sender: Any,
                                                   world: dict[str, int]) -> None:
    _queue_for_sam(services, world)
    alex = Visitor(client.application.test_client())
    alex.login("alex", "alex-password")
    url = f"/staff/veterans/{world['sam']}/withdraw"
    assert alex.post(url, {"reason": "no"}).status_code == 403
    staff = Visitor(client)
    staff.login("sage", "sage-password")
    assert staff.post(url, {"reason": "  "}).status_code == 400  # a reason is required
    assert staff.post(url, {"reason": "asked by phone to leave the study"}).status_code == 302
    _texts_stop(services, sender, world, "asked by phone to leave the study")
    page = staff.text(f"/veterans/{world['sam']}")
    assert "Withdrew" in page and "asked by phone to leave the study" in page
