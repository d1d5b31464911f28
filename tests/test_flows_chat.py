"""`peerline chat`: a terminal conversation through the real webhook logic and database."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.cli.demo_data import DEMO_PARTICIPANT_PHONE
from bot.core.db import upgrade

FIXTURE = Path(__file__).parent / "fixtures" / "flows"


def test_chat_through_checkin_wait_and_crisis(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/chat.db"
    upgrade(url)
    monkeypatch.setenv("PEERLINE_DATABASE_URL", url)
    monkeypatch.setenv("PEERLINE_FLOWS_DIR", str(FIXTURE))
    runner = CliRunner()
    assert runner.invoke(main, ["demo", "seed"]).exit_code == 0
    script = "hello\nPAIN\n9\nyes\n/start checkin\n/wait 25h\nI want to die\n/quit\n"
    result = runner.invoke(main, ["chat", "--phone", "(202) 555-0123"], input=script)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "bot> Thanks, Sam. Alex will see your message." in out
    assert "bot> That sounds hard. Alex will check in with you." in out
    assert "[to coach Alex] PeerLine (P1): Sam rated pain 9/10 this week." in out
    assert "for coach approval, due" in out and "(the time is now" in out
    assert "bot (queued)> Hi Sam! From 0 to 10" in out
    assert "Escalation" in out and "No answer to the weekly check-in" in out
    assert "838255" in out and "URGENT" in out
    assert DEMO_PARTICIPANT_PHONE in out


def test_chat_refuses_a_bad_phone(tmp_path, monkeypatch):
    monkeypatch.setenv("PEERLINE_DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    result = CliRunner().invoke(main, ["chat", "--phone", "not-a-phone"])
    assert result.exit_code == 1
