"""Retention: message bodies older than [data] retention are blanked; scores and counts stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bot.cli import main
from bot.models import AuditLog, CheckinAnswer, Escalation, EscalationNote, Message, Nudge
from scheduler.jobs import run_all
from tests.conftest import START
from tests.dashboard_support import add_escalation, add_nudge, world

__all__ = ["world"]
REPO = Path(__file__).resolve().parent.parent
OLD = START - timedelta(days=800)  # over two years before START


@pytest.fixture
def db_url(any_db_url: str) -> str:
    """Run these on SQLite and on PostgreSQL (the score test is a regular expression)."""
    return any_db_url


def _seed(services: Any, world: dict[str, int]) -> None:
    from bot.models import Participant

    with services.db.session() as db:
        sam = db.get(Participant, world["sam"])
        for when, tag in ((OLD, "old"), (START - timedelta(days=10), "new")):
            db.add(Message(direction="in", participant_id=sam.id, phone=sam.phone,
                           body=f"{tag} private words", kind="participant", status="received",
                           reply_twiml=f"<Response><Message>{tag} reply</Message></Response>",
                           created_at=when))
            db.add(CheckinAnswer(participant_id=sam.id, flow_id="goal", variable="goal_what",
                                 value=f"{tag} walk with my dog", answered_at=when))
            db.add(CheckinAnswer(participant_id=sam.id, flow_id="weekly_checkin",
                                 variable="pain", value="7", answered_at=when))
            nudge = add_nudge(db, sam, f"r:{tag}", f"Hi Sam, {tag} nudge", when)
            nudge.created_at = when
            escalation = add_escalation(db, sam, f"r:e:{tag}", when)
            db.flush()
            db.add(EscalationNote(escalation_id=escalation.id, author_id=world["alex"],
                                  body=f"{tag} note about Sam", created_at=when))


def _counts(services: Any) -> dict[str, int]:
    with services.db.session() as db:
        return {model.__name__: db.scalar(select(func.count()).select_from(model)) or 0
                for model in (Message, CheckinAnswer, Nudge, Escalation, EscalationNote)}


def _texts(services: Any) -> str:
    with services.db.session() as db:
        parts = [*db.scalars(select(Message.body)), *db.scalars(select(Message.reply_twiml)),
                 *db.scalars(select(CheckinAnswer.value)), *db.scalars(select(Nudge.body)),
                 *db.scalars(select(Nudge.original_body)),
                 *db.scalars(select(EscalationNote.body))]
    return " | ".join(p or "" for p in parts)


def test_purge_blanks_old_bodies_and_keeps_scores_and_counts(services: Any,
                                                             world: dict[str, int]) -> None:
    _seed(services, world)
    before = _counts(services)
    config = Path("purge.toml")
    config.write_text(f'[database]\nurl = "{services.config.database.url}"\n\n'
                      f'[flows]\ndir = "{REPO / "flows"}"\n')
    config.chmod(0o600)  # it may hold a database password
    result = CliRunner().invoke(main, ["purge", "--at", START.isoformat(), "--config",
                                       str(config)])
    assert result.exit_code == 0, result.output
    assert "blanked" in result.output
    text = _texts(services)
    assert "old" not in text
    for recent in ("new private words", "new reply", "new walk with my dog", "new nudge",
                   "new note"):
        assert recent in text, recent
    assert _counts(services) == before
    with services.db.session() as db:
        assert sorted(db.scalars(select(CheckinAnswer.value).where(
            CheckinAnswer.variable == "pain"))) == ["5", "6", "7", "7", "7"]  # scores kept
        old = db.scalar(select(Message).where(Message.created_at == OLD))
        assert old.created_at == OLD and old.body == ""  # timing kept
        entry = db.scalar(select(AuditLog).where(AuditLog.action == "data.purge"))
        assert entry.actor == "cli" and entry.detail["messages"] == 1
        assert entry.detail["before"] == (START - timedelta(days=730)).isoformat()


def test_the_scheduler_purges_once_a_day(services: Any, world: dict[str, int]) -> None:
    _seed(services, world)
    run_all(services, START)
    run_all(services, START + timedelta(hours=1))
    assert "old private" not in _texts(services)
    with services.db.session() as db:
        entries = db.scalars(select(AuditLog).where(AuditLog.action == "data.purge")).all()
    assert [e.actor for e in entries] == ["scheduler"]
    run_all(services, START + timedelta(days=1))
    with services.db.session() as db:
        assert len(db.scalars(select(AuditLog).where(AuditLog.action == "data.purge")).all()) \
            == 2
