"""The command line on a database that is missing, not migrated or unreachable: one line, exit 1."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.test_cli import REPO, refusal, run, write_config

COMMANDS = {
    "export": ["export", "checkins"],
    "participant_add": ["participant", "add", "--phone", "2025550123", "--name", "Sam",
                        "--coach", "2025550101"],
    "coach_add": ["coach", "add", "--name", "Alex", "--phone", "2025550101"],
    "tick": ["tick", "--at", "2026-12-07T16:00:00+00:00"],
    "demo_seed": ["demo", "seed"],
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run each command against an empty SQLite file and an unreachable PostgreSQL."""
    empty = tmp_path_factory.mktemp("empty")
    not_migrated = write_config(empty, f'[database]\nurl = "sqlite:///{empty}/p.db"\n'
                                       f'[flows]\ndir = "{REPO}/flows"\n')
    down = tmp_path_factory.mktemp("down")
    url = f"postgresql+psycopg://peerline@127.0.0.1:{_closed_port()}/peerline"
    unreachable = write_config(down, f'[database]\nurl = "{url}"\n[flows]\ndir = "{REPO}/flows"\n')
    jobs = {f"not_migrated:{name}": [*args, "--config", str(not_migrated)]
            for name, args in COMMANDS.items()}
    jobs |= {f"unreachable:{name}": [*args, "--config", str(unreachable)]
             for name, args in COMMANDS.items()}
    jobs["unreachable:db_upgrade"] = ["db", "upgrade", "--config", str(unreachable)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run, *args) for name, args in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_database_not_migrated_says_to_run_db_upgrade(outcomes, command):
    line = refusal(outcomes[f"not_migrated:{command}"])
    assert "peerline db upgrade" in line, line


@pytest.mark.parametrize("command", [*COMMANDS, "db_upgrade"])
def test_an_unreachable_database_names_the_setting(outcomes, command):
    line = refusal(outcomes[f"unreachable:{command}"])
    assert "cannot reach the database" in line and "[database] url" in line, line


def test_a_sqlite_folder_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = write_config(tmp_path, f'[database]\nurl = "sqlite:///{blocker}/sub/p.db"\n')
    for args in (["db", "upgrade"], ["export", "messages"]):
        line = refusal(run(*args, "--config", str(config)))
        assert "cannot reach the database" in line and "[database] url" in line, line
