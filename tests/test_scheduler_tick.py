"""`peerline tick --at` as real subprocesses: a check-in, repeated ticks, a timeout escalation."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.core.db import Database
from bot.domain.people import add_coach, add_participant
from tests.conftest import START

PEERLINE = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "peerline"
FLOWS = Path(__file__).resolve().parent.parent / "flows"


def _tick(config: Path, at: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERLINE_")}
    done = subprocess.run([str(PEERLINE), "tick", "--at", at, "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_tick_subprocesses_start_send_once_and_escalate(db_url, tmp_path):
    config = tmp_path / "peerline.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n[flows]\ndir = "{FLOWS}"\n'
                      "[twilio]\nmax_messages_per_second = 1000.0\n")
    database = Database(db_url)
    with database.session() as session:
        coach = add_coach(session, name="Alex Rivera", phone="+12025550101", now=START)
        add_participant(session, phone="+12025550123", name="Sam Carter", coach=coach,
                        timezone="America/Chicago", now=START)
    database.dispose()

    first = _tick(config, "2026-12-07T16:00:00+00:00")  # Monday 10:00 in Chicago
    assert "checkins: 1 check-ins started" in first
    assert "[sms to +12025550123] Hi Sam, check-in time" in first
    again = _tick(config, "2026-12-07T16:00:00Z")
    assert "checkins: 0 check-ins started" in again
    assert "[sms to" not in again and "outbox: nothing due" in again
    later = _tick(config, "2026-12-08T16:00:00+00:00")  # 24 h of silence
    assert "timeouts: 1 timeouts fired" in later
    assert "Escalation" not in later and "PeerLine (P1)" not in later  # one miss: quiet
    _tick(config, "2026-12-14T16:00:00+00:00")  # the next Monday's check-in
    second = _tick(config, "2026-12-15T16:00:00+00:00")  # missed again: the coach hears once
    assert "[sms to +12025550101] PeerLine (P1): Sam has not answered the last two" in second
    assert "[sms to +12025550101] PeerLine (P1)" not in _tick(config, "2026-12-15T16:00:00Z")


def test_tick_refuses_a_bad_time(tmp_path):
    result = CliRunner().invoke(main, ["tick", "--at", "next monday"])
    assert result.exit_code == 1 and "ISO-8601" in result.output
    result = CliRunner().invoke(main, ["tick", "--at", "2026-12-07T16:00:00"])
    assert result.exit_code == 1 and "UTC offset" in result.output


def test_tick_subprocess_reminds_of_a_contact_due_once_in_the_coachs_day(db_url, tmp_path):
    config = tmp_path / "peerline.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n[flows]\ndir = "{FLOWS}"\n'
                      '[program]\ncontact_every = "7d"\n'
                      "[twilio]\nmax_messages_per_second = 1000.0\n")
    database = Database(db_url)
    with database.session() as session:
        coach = add_coach(session, name="Alex Rivera", phone="+12025550101", now=START)
        add_participant(session, phone="+12025550123", name="Sam Carter", coach=coach,
                        timezone="America/Chicago", now=START)
    database.dispose()
    night = _tick(config, "2026-12-15T03:00:00+00:00")  # 7.5 days in; 22:00 for the coach
    assert "contact_due: 1 contact-due reminders queued" in night
    assert "[sms to +12025550101]" not in night  # it waits for the coach's morning
    again = _tick(config, "2026-12-15T03:00:00+00:00")
    assert "contact_due: 0 contact-due reminders queued" in again
    morning = _tick(config, "2026-12-15T14:00:00+00:00")  # 09:00 in New York
    assert "[sms to +12025550101] PeerLine: contact due with Sam (P1)" in morning
    assert "contact_due: 0 contact-due" in morning
