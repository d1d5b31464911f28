"""The `peerline` command line, run as real subprocesses with --config pointing at a temp file."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from bot.core.db import Database
from bot.models import Coach, Participant
from bot.outbox.queue import record_reply
from tests.conftest import START

REPO = Path(__file__).resolve().parent.parent
PEERLINE = Path(sys.executable).with_name("peerline")
COACH = "+12025550101"
VETERAN = "+12025550123"


def run(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Any:
    """Run `peerline ARGS`; return the CompletedProcess."""
    return subprocess.run([str(PEERLINE), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})}, cwd=os.getcwd())


def write_config(folder: Path, body: str) -> Path:
    path = folder / "peerline.toml"
    path.write_text(body)
    path.chmod(0o600)
    return path


def refusal(result: Any) -> str:
    """Assert `result` is a clean refusal: exit 1, one `error:` line, no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A migrated database with coach Alex and veteran Sam, enrolled through the CLI."""
    if not PEERLINE.exists():
        pytest.fail(f"{PEERLINE} missing: pip install -e . first")
    folder = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{folder}/peerline.db"
    config = write_config(folder, f'[database]\nurl = "{url}"\n\n[flows]\ndir = "{REPO}/flows"\n')
    upgrade = run("db", "upgrade", "--config", str(config))
    assert upgrade.returncode == 0, upgrade.stderr
    coach = run("coach", "add", "--name", "Alex Rivera", "--phone", "(202) 555-0101",
                "--username", "alex", "--password-stdin", "--config", str(config),
                stdin="correct horse battery\n")
    assert coach.returncode == 0, coach.stderr
    veteran = run("participant", "add", "--phone", "202.555.0123", "--name", "Sam Carter",
                  "--coach", COACH, "--timezone", "America/Chicago", "--config", str(config))
    assert veteran.returncode == 0, veteran.stderr
    return config, url


def test_enrolment_stores_e164_and_a_password_hash(enrolled):
    _, url = enrolled
    db = Database(url)
    with db.session() as session:
        coach = session.scalar(select(Coach).where(Coach.username == "alex"))
        assert coach is not None and coach.phone == COACH
        assert coach.password_hash and "correct horse" not in coach.password_hash
        assert check_password_hash(coach.password_hash, "correct horse battery")
        veteran = session.scalar(select(Participant))
        assert veteran is not None
        assert (veteran.phone, veteran.timezone, veteran.coach_id) == \
            (VETERAN, "America/Chicago", coach.id)
    db.dispose()


def test_db_upgrade_is_repeatable(enrolled):
    config, _ = enrolled
    result = run("db", "upgrade", "--config", str(config))
    assert result.returncode == 0, result.stderr


def test_export_messages_has_participant_ids_and_no_phone_numbers(enrolled):
    config, url = enrolled
    db = Database(url)
    with db.session() as session:
        veteran = session.scalar(select(Participant))
        assert veteran is not None
        participant_id = veteran.id
        record_reply(session, participant=veteran, phone=VETERAN, kind="reply", now=START,
                     body="Call me at 202-555-0123 tomorrow? ok")
    db.dispose()
    result = run("export", "messages", "--config", str(config))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {"participant_id", "direction", "body", "status", "created_at"} <= set(rows[0])
    assert "phone" not in ",".join(rows[0])
    assert {row["participant_id"] for row in rows} == {str(participant_id)}
    assert "+12025550123" not in result.stdout
    assert "+12025550101" not in result.stdout
    assert any("tomorrow? ok" in row["body"] for row in rows)  # bodies are exported as sent


REFUSALS = {
    "duplicate_participant": (["participant", "add", "--phone", VETERAN, "--name", "Sam Again",
                               "--coach", COACH], "already enrolled"),
    "duplicate_coach": (["coach", "add", "--name", "Other Coach", "--phone", "+1 202 555 0123"],
                        "already enrolled"),
    "malformed_phone": (["participant", "add", "--phone", "12ab", "--name", "Bad",
                         "--coach", COACH], "not a phone number"),
    "unknown_coach": (["participant", "add", "--phone", "+12025550144", "--name", "Orphan",
                       "--coach", "+12025550199"], "no coach"),
    "unknown_zone": (["participant", "add", "--phone", "+12025550145", "--name", "Mars",
                      "--coach", COACH, "--timezone", "Mars/Olympus"], "unknown time zone"),
    "control_in_name": (["participant", "add", "--phone", "+12025550147", "--name",
                         "Sam\x1b[31m Red", "--coach", COACH], "control character"),
    "control_in_coach_name": (["coach", "add", "--name", "Al\x01ex", "--phone",
                               "+12025550148"], "control character"),
    "short_password": (["coach", "add", "--name", "Short Pw", "--phone", "+12025550146",
                        "--username", "sp", "--password-stdin"], "at least 8"),
    "future_enrolment": (["participant", "add", "--phone", "+12025550147", "--name", "Soon",
                          "--coach", COACH, "--enrolled", "2999-01-01"], "is in the future"),
    "enrolment_before_the_program": (["participant", "add", "--phone", "+12025550148",
                                      "--name", "Early", "--coach", COACH, "--enrolled",
                                      "2001-09-10"], "before the program existed"),
    "enrolment_not_a_date": (["participant", "add", "--phone", "+12025550149", "--name",
                              "Vague", "--coach", COACH, "--enrolled", "last week"],
                             "write YYYY-MM-DD"),
}

CONFIG_ERRORS = {  # every kind of config error is covered in-process by tests/test_config.py
    "unknown_key": ('[database]\nurll = "sqlite:///x.db"\n', {}, "urll"),
    "bad_env_number": ("", {"PEERLINE_TWILIO_MAX_MESSAGES_PER_SECOND": "fast"},
                       "PEERLINE_TWILIO_MAX_MESSAGES_PER_SECOND"),
}


@pytest.fixture(scope="module")
def refused(enrolled: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, Any]:
    """Run every refusal case at once (each `peerline` start costs about a second)."""
    config, _ = enrolled
    jobs: dict[str, tuple[list[str], dict[str, str]]] = {
        name: ([*args, "--config", str(config)], {}) for name, (args, _) in REFUSALS.items()
    }
    for name, (toml, env, _) in CONFIG_ERRORS.items():
        path = write_config(tmp_path_factory.mktemp(name), toml)
        jobs[name] = (["db", "upgrade", "--config", str(path)], env)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run, *args, stdin="short\n", env=env)
                   for name, (args, env) in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_are_one_line_with_exit_1(enrolled, refused, case):
    _, url = enrolled
    assert REFUSALS[case][1] in refusal(refused[case])
    db = Database(url)
    with db.session() as session:
        assert len(session.scalars(select(Participant)).all()) == 1  # nothing was added
        assert len(session.scalars(select(Coach)).all()) == 1
    db.dispose()


@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_bad_configuration_is_refused_naming_the_key(refused, case):
    assert CONFIG_ERRORS[case][2] in refusal(refused[case])


def test_every_command_takes_help_and_config():
    from click.testing import CliRunner

    from bot.cli import main

    for command in (["db", "upgrade"], ["coach", "add"], ["participant", "add"], ["export"],
                    ["staff", "add"], ["demo", "seed"]):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "--config" in result.output, command
