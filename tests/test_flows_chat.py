"""`peerline chat`: a terminal conversation through the real webhook logic, on a copy or live."""

from __future__ import annotations

import tempfile
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from bot.cli import main
from bot.cli.demo_data import DEMO_PARTICIPANT_PHONE, DEMO_SECOND_PHONE
from bot.core.db import Database, upgrade
from bot.models import Message, Run

FIXTURE = Path(__file__).parent / "fixtures" / "flows"


def _demo(tmp_path: Path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path}/chat.db"
    upgrade(url)
    monkeypatch.setenv("PEERLINE_DATABASE_URL", url)
    monkeypatch.setenv("PEERLINE_FLOWS_DIR", str(FIXTURE))
    assert CliRunner().invoke(main, ["demo", "seed"]).exit_code == 0
    return url


def _count(url: str, model) -> int:
    db = Database(url)
    try:
        with db.session() as session:
            return int(session.scalar(select(func.count(model.id))) or 0)
    finally:
        db.dispose()


def test_chat_on_a_copy_walks_checkin_wait_and_crisis_and_leaves_the_database_alone(
        tmp_path, monkeypatch):
    url = _demo(tmp_path, monkeypatch)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the copy is made
    before = _count(url, Message), _count(url, Run)
    script = "hello\nPAIN\n9\nyes\n/start checkin\n/wait 25h\nI want to die\n/quit\n"
    result = CliRunner().invoke(main, ["chat", "--phone", "(202) 555-0123"], input=script)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "throwaway copy" in out and "Sam Carter (+12025550123)" in out
    assert "bot> Thanks, Sam. Alex will see your message." in out
    assert "bot> That sounds hard. Alex will check in with you." in out
    assert "note: your coach has a draft to approve" in out
    assert "(on this copy the time is now" in out
    assert "bot, later> Hi Sam! From 0 to 10" in out
    assert "838255" in out
    # only Sam's own thread: nothing addressed to the coach or staff is shown
    assert "[to " not in out and "rated pain 9/10" not in out and "URGENT" not in out
    assert "queued" not in out  # the old unexplained label
    assert "bot, later>  a text PeerLine sends on its own" in out  # the legend explains it
    assert (_count(url, Message), _count(url, Run)) == before
    assert not list(tmp_path.glob("peerline-chat-*"))


def test_chat_live_uses_the_real_database_and_refuses_wait(tmp_path, monkeypatch):
    url = _demo(tmp_path, monkeypatch)
    before = _count(url, Message)
    result = CliRunner().invoke(main, ["chat", "--live", "--phone", DEMO_SECOND_PHONE],
                                input="hello\n/wait 25h\n/quit\n")
    assert result.exit_code == 0, result.output
    assert "LIVE database" in result.output and "Jo Park" in result.output
    assert "/wait is off on the live database" in result.output
    assert "the time is now" not in result.output
    assert _count(url, Message) > before  # the text and its answer are stored for the dashboard


def test_chat_copy_needs_sqlite(monkeypatch):
    monkeypatch.setenv("PEERLINE_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:1/x")
    result = CliRunner().invoke(main, ["chat", "--phone", DEMO_PARTICIPANT_PHONE])
    assert result.exit_code == 1
    assert "--live" in result.output


def test_chat_refuses_a_bad_phone(tmp_path, monkeypatch):
    monkeypatch.setenv("PEERLINE_DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    result = CliRunner().invoke(main, ["chat", "--phone", "not-a-phone"])
    assert result.exit_code == 1
