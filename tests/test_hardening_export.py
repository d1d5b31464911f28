"""Research exports are de-identified by default, through the CLI and the dashboard."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import main
from bot.models import AuditLog, CheckinAnswer, Escalation, Message
from tests.conftest import START
from tests.dashboard_support import Visitor, world

__all__ = ["world"]
REPO = Path(__file__).resolve().parent.parent


def _seed(services: Any, world: dict[str, int]) -> None:
    sam = world["sam"]
    with services.db.session() as db:
        db.add(Message(direction="out", participant_id=sam, phone="+12025550123",
                       body="Hi Sam, how was the walk? Call me at (202) 555-0101. - Alex",
                       kind="nudge", status="delivered", created_at=START))
        db.add(Message(direction="out", participant_id=sam, phone="+12025550123",
                       body="Sam Carter, Blake Jones says hi", kind="reply", status="twiml",
                       created_at=START))
        db.add(Message(direction="in", participant_id=sam, phone="+12025550123",
                       body="my wife Maria left, call +1 202 555 0199", kind="participant",
                       status="received", created_at=START))
        db.add(CheckinAnswer(participant_id=sam, flow_id="goal", variable="goal_what",
                             value="walk with my dog Rex", answered_at=START))
        db.add(CheckinAnswer(participant_id=sam, flow_id="weekly_checkin", variable="pain",
                             value="7", answered_at=START))
        db.add(Escalation(participant_id=sam, coach_id=world["alex"], kind="flow",
                          reason="Sam said no to Alex", event_key="x:1", created_at=START))
        db.add(Message(direction="in", participant_id=sam, phone="+12025550123",
                       body=" =1+1", kind="participant", status="received", created_at=START))
        db.add(Message(direction="in", participant_id=sam, phone="+12025550123",
                       body="\n@SUM(A1)", kind="participant", status="received",
                       created_at=START))


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _cli(services: Any, *args: str) -> list[dict[str, str]]:
    """Run `peerline export ARGS` in-process against the test database."""
    config = Path("export.toml")
    config.write_text(f'[database]\nurl = "{services.config.database.url}"\n\n'
                      f'[flows]\ndir = "{REPO / "flows"}"\n')
    config.chmod(0o600)  # it may hold a database password
    result = CliRunner().invoke(main, ["export", *args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    return _csv(result.stdout)


def test_message_export_hides_names_phones_and_free_text(services: Any,
                                                         world: dict[str, int]) -> None:
    _seed(services, world)
    rows = _cli(services, "messages")
    bodies = [r["body"] for r in rows if r["direction"] == "out"]
    assert "Hi [participant], how was the walk? Call me at [phone]. - [coach]" in bodies
    assert "[participant], [coach] says hi" in bodies
    text = "\n".join(r["body"] for r in rows)
    for secret in ("Sam", "Alex", "Blake", "Carter", "555", "Maria", "my pain is about"):
        assert secret not in text, secret
    inbound = [r for r in rows if r["direction"] == "in"]
    assert inbound and all(r["body"] == "" and r["free_text_left_out"] == "1" for r in inbound)


def test_checkins_leave_out_free_text_but_keep_scores(services: Any,
                                                      world: dict[str, int]) -> None:
    _seed(services, world)
    rows = _cli(services, "checkins")
    by_variable = {r["variable"]: r["value"] for r in rows}
    assert by_variable["pain"] == "7" and by_variable["goal_what"] == ""
    reasons = [r["reason"] for r in _cli(services, "escalations")]
    assert "[participant] said no to [coach]" in reasons


def test_free_text_only_when_asked_and_then_audited(services: Any,
                                                    world: dict[str, int]) -> None:
    _seed(services, world)
    rows = _cli(services, "messages", "--include-free-text")
    bodies = [r["body"] for r in rows if r["direction"] == "in"]
    assert "my wife Maria left, call [phone]" in bodies
    assert "' =1+1" in bodies and "'\n@SUM(A1)" in bodies  # leading space / newline formulas
    with services.db.session() as db:
        entries = db.scalars(select(AuditLog).where(AuditLog.action == "export")).all()
    assert [e.detail.get("free_text") for e in entries] == [True]


def test_the_web_export_follows_the_same_rules(client: Any, services: Any,
                                               world: dict[str, int]) -> None:
    _seed(services, world)
    staff = Visitor(client)
    staff.login("sage", "sage-password")
    plain = staff.post("/staff/exports/messages")
    assert plain.status_code == 200
    text = plain.get_data(as_text=True)
    assert "Sam" not in text and "Maria" not in text and "[participant]" in text
    full = staff.post("/staff/exports/messages", {"include_free_text": "1"})
    assert "Maria" in full.get_data(as_text=True)
    with services.db.session() as db:
        entries = db.scalars(select(AuditLog).where(AuditLog.action == "export")).all()
    assert [e.detail.get("free_text") for e in entries] == [False, True]
