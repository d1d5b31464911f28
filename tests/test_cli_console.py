"""The console a newcomer meets: quiet commands, the port check, `demo reset`, make targets."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from sqlalchemy import select

from bot.core.db import Database
from bot.domain.people import add_coach
from bot.models import Coach, Nudge, Participant
from tests.test_cli import REPO, run, write_config


def _config(tmp_path: Path, level: str = "INFO") -> str:
    url = f"sqlite:///{tmp_path}/demo.db"
    return str(write_config(tmp_path, f'[database]\nurl = "{url}"\nspool_dir = "{tmp_path}/spool"'
                                      f'\n[logging]\nlevel = "{level}"\n'))


def test_one_shot_commands_print_no_info_lines_unless_verbose(tmp_path):
    config = _config(tmp_path)
    assert run("db", "upgrade", "--config", config).returncode == 0
    quiet = run("demo", "seed", "--config", config)
    assert quiet.returncode == 0 and "seeded demo coach" in quiet.stdout
    assert "INFO" not in quiet.stderr, quiet.stderr
    loud = run("-v", "export", "messages", "--config", config)
    assert loud.returncode == 0 and "INFO bot.cli.export: flows read" in loud.stderr


def test_serve_refuses_a_busy_port_before_saying_it_is_running(tmp_path):
    config = _config(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("serve", "--port", str(port), "--config", config)
    assert result.returncode == 1
    assert "PeerLine is running" not in result.stdout
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert f"make run PORT={port + 1}" in result.stderr and "Traceback" not in result.stderr
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    assert run("serve", "--check-port", "--port", str(port), "--config", config).returncode == 0


def test_demo_reset_brings_the_draft_back_and_refuses_a_real_database(tmp_path):
    config = _config(tmp_path)
    assert run("db", "upgrade", "--config", config).returncode == 0
    assert run("demo", "seed", "--config", config).returncode == 0
    db = Database(f"sqlite:///{tmp_path}/demo.db")
    try:
        with db.session() as session:
            session.scalars(select(Nudge)).one().status = "rejected"
        reset = run("demo", "reset", "--config", config)
        assert reset.returncode == 0 and "draft is waiting again" in reset.stdout
        with db.session() as session:
            assert session.scalars(select(Nudge)).one().status == "pending"
            assert len(session.scalars(select(Participant)).all()) == 2  # Sam and Jo
            coach = session.scalars(select(Coach).where(Coach.username == "coach")).one()
            add_coach(session, name="Real Coach", phone="+12025550177", now=coach.created_at)
        refused = run("demo", "reset", "--config", config)
        assert refused.returncode == 1 and "other than the demo's" in refused.stderr
        with db.session() as session:
            assert session.scalars(select(Coach).where(Coach.name == "Real Coach")).one()
    finally:
        db.dispose()


def test_make_clean_keeps_the_venv_and_run_takes_a_port():
    dry = subprocess.run(["make", "-n", "clean"], cwd=REPO, capture_output=True, text=True)
    assert dry.returncode == 0 and ".venv" not in dry.stdout and "var" in dry.stdout
    dist = subprocess.run(["make", "-n", "distclean"], cwd=REPO, capture_output=True, text=True)
    assert "rm -rf .venv" in dist.stdout
    run_ = subprocess.run(["make", "-n", "run", "PORT=5055"], cwd=REPO, capture_output=True,
                          text=True)
    assert "serve --check-port --host 127.0.0.1 --port 5055" in run_.stdout
    assert "serve --demo --host 127.0.0.1 --port 5055" in run_.stdout
    reset = subprocess.run(["make", "-n", "demo-reset"], cwd=REPO, capture_output=True, text=True)
    assert "peerline demo reset" in reset.stdout
