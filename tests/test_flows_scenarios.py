"""Scenario files (SPEC §8): every shipped case runs in `make test`; failures show a diff."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.cli.scenarios import case_names, run_file, run_path, scenario_files
from bot.flows.store import FlowStore

ROOT = Path(__file__).parent.parent
SHIPPED = ROOT / "flows"
FIXTURE = Path(__file__).parent / "fixtures" / "flows"
_stores: dict[Path, FlowStore] = {}


def _cases(folder: Path) -> list[tuple[Path, str]]:
    return [(file, name) for file in scenario_files(folder) for name in case_names(file)]


def _run(file: Path, name: str) -> None:
    folder = file.parent.parent
    store = _stores.setdefault(folder, FlowStore(folder, min_interval=3600))
    results = list(run_file(file, store, only=name))
    assert len(results) == 1
    assert results[0].ok, "\n" + results[0].failure


@pytest.mark.parametrize(("file", "name"), _cases(SHIPPED),
                         ids=[f"{f.stem}::{n}" for f, n in _cases(SHIPPED)])
def test_shipped_scenario(file, name):
    _run(file, name)


@pytest.mark.parametrize(("file", "name"), _cases(FIXTURE),
                         ids=[f"{f.stem}::{n}" for f, n in _cases(FIXTURE)])
def test_fixture_scenario(file, name):
    _run(file, name)


def test_every_shipped_scenario_file_loads():
    for file in scenario_files(SHIPPED):
        assert case_names(file), f"{file} has no cases or does not load"


WRONG = """flow: checkin
participant: {first_name: Sam}
coach: {first_name: Alex}
cases:
  a wrong expectation:
    - send: "PAIN"
      expect_say: "From 0 to 10"
    - send: "3"
      expect_say: "That sounds hard"
  an unexpected text:
    - send: "PAIN"
"""


def _wrong_folder(tmp_path: Path) -> Path:
    (tmp_path / "tests").mkdir()
    for name in ("checkin.yaml", "fallback.yaml", "safety.yaml"):
        (tmp_path / name).write_text((FIXTURE / name).read_text())
    (tmp_path / "tests" / "wrong.yaml").write_text(WRONG)
    return tmp_path


def test_wrong_expectation_fails_with_a_readable_diff(tmp_path):
    results = {r.name: r for r in run_path(_wrong_folder(tmp_path))}
    failure = results["a wrong expectation"].failure
    assert "wrong.yaml:8: case \"a wrong expectation\", step 2 (send: \"3\")" in failure
    assert '- "That sounds hard"' in failure
    assert '+ "Did you get out for a walk this week?"' in failure
    assert "expected nothing, but the bot said" in results["an unexpected text"].failure


def test_cli_flows_test(tmp_path):
    runner = CliRunner()
    good = runner.invoke(main, ["flows", "test", str(FIXTURE)])
    assert good.exit_code == 0, good.output
    assert "0 failed" in good.output
    bad = runner.invoke(main, ["flows", "test", str(_wrong_folder(tmp_path))])
    assert bad.exit_code == 1 and "That sounds hard" in bad.output
    assert "0 passed, 2 failed." in bad.output
    # each failure once, starting with FILE:LINE (no "FAIL file: name" header repeating it)
    assert bad.output.count('case "a wrong expectation"') == 1
    assert bad.output.startswith(str(tmp_path))


def test_unknown_step_key_in_scenario_is_reported(tmp_path):
    folder = _wrong_folder(tmp_path)
    broken = WRONG.replace('expect_say: "From', 'expct_say: "From')
    (folder / "tests" / "wrong.yaml").write_text(broken)
    result = run_path(folder)[0]
    assert "wrong.yaml:7: unknown key 'expct_say'" in result.failure


def test_a_huge_wait_is_a_failure_not_a_traceback(tmp_path):
    folder = _wrong_folder(tmp_path)
    (folder / "tests" / "wrong.yaml").write_text(
        WRONG.split("cases:")[0] + "cases:\n  far future:\n    - send: \"PAIN\"\n"
        "      expect_say: \"From 0 to 10\"\n    - wait: 99999999999d\n")
    result = run_path(folder)[0]
    assert "wrong.yaml:8: case \"far future\", step 2" in result.failure
    assert "too long" in result.failure


YESNO_SAVED = """flow: checkin
cases:
  yes is saved:
    - send: "PAIN"
      expect_say: "From 0 to 10"
    - send: "5"
      expect_say: "walk"
    - send: "yep"
      expect_say: "Thank you"
      expect_nudge: "how is the week going"
      expect_saved: {walked: %s}
"""


@pytest.mark.parametrize(("written", "ok"), [("yes", True), ("true", True), ("no", False),
                                             ("false", False)])
def test_expect_saved_yes_matches_a_saved_yes(tmp_path, written, ok):
    """`expect_saved: {walked: yes}` (a string in YAML 1.2) matches a yes/no answer of yes."""
    folder = _wrong_folder(tmp_path)
    (folder / "tests" / "wrong.yaml").write_text(YESNO_SAVED % written)
    result = run_path(folder)[0]
    assert result.ok is ok, result.failure


@pytest.mark.parametrize(("header", "line", "message"), [
    ("participant: [Sam]", 2, "participant must be a mapping"),
    ("participant: Sam", 2, "participant must be a mapping"),
    ("participant: {first_name: Sam, timezone: Mars/Base}", 2, "unknown time zone 'Mars/Base'"),
    ("participant: {first_name: ''}", 2, "first_name must be non-empty text"),
    ("participant: {first_name: Sam, strategies: pacing}", 2, "strategies must be a list"),
    ("participant: {first_name: Sam, fields: [a]}", 2, "fields must be a mapping"),
    ("coach: [Alex]", 2, "coach must be a mapping"),
])
def test_a_badly_written_person_is_a_problem_not_a_traceback(tmp_path, header, line, message):
    folder = _wrong_folder(tmp_path)
    (folder / "tests" / "wrong.yaml").write_text(
        f"flow: checkin\n{header}\ncases:\n  c:\n    - send: \"PAIN\"\n"
        "      expect_say: \"From 0 to 10\"\n")
    result = run_path(folder)[0]
    assert not result.ok
    assert f"wrong.yaml:{line}: {message}" in result.failure


def test_expect_saved_written_as_a_list_is_a_problem_not_a_traceback(tmp_path):
    folder = _wrong_folder(tmp_path)
    (folder / "tests" / "wrong.yaml").write_text(
        "flow: checkin\ncases:\n  c:\n    - send: \"PAIN\"\n"
        "      expect_say: \"From 0 to 10\"\n      expect_saved: [pain]\n")
    result = run_path(folder)[0]
    assert "wrong.yaml:6: expect_saved must be a mapping like {pain: 9}" in result.failure


def test_an_empty_scenario_file_fails_instead_of_passing(tmp_path):
    folder = _wrong_folder(tmp_path)
    (folder / "tests" / "wrong.yaml").write_text("# cases to come\n")
    result = run_path(folder)[0]
    assert not result.ok and "wrong.yaml:1: the file is empty" in result.failure
