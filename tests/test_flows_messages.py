"""`flows check` and `flows test` speak plainly: once per cause, FILE:LINE, field and fix."""

from __future__ import annotations

import shutil
from pathlib import Path

from ruamel.yaml import YAML

from bot.flows.cron import cron_problem
from bot.flows.templates import evaluate, render
from tests.test_cli import run

SHIPPED = Path(__file__).parent.parent / "flows"


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    shutil.copytree(SHIPPED, folder)
    return folder


def _line(path: Path, text: str, key: str = "") -> int:
    """Return the 1-based line of `text` in `path` (or of the `key` line at or before it)."""
    lines = path.read_text().splitlines()
    at = next(n for n, line in enumerate(lines) if text in line)
    while key and not lines[at].strip().startswith(key):
        at -= 1
    return at + 1


def _scenarios_of(folder: Path, flow: str) -> dict[str, int]:
    """Return {scenario file name: number of cases} for the files that test `flow`."""
    found = {}
    for path in sorted((folder / "tests").glob("*.yaml")):
        doc = YAML(typ="safe").load(path.read_text())
        if doc.get("flow") == flow:
            found[path.name] = len(doc["cases"])
    return found


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_a_typod_step_name_is_one_problem_not_six(tmp_path):
    folder = _copy(tmp_path)
    weekly = folder / "weekly_checkin.yaml"
    _edit(weekly, "    next: enjoyment", "    next: enjoymnet")
    at = _line(weekly, "    next: enjoymnet")
    result = run("flows", "check", str(folder))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{weekly}:{at}: next goes to unknown step 'enjoymnet' (did you mean 'enjoyment'?)"]


def test_a_step_nothing_leads_to_is_still_unreachable(tmp_path):
    folder = _copy(tmp_path)
    weekly = folder / "weekly_checkin.yaml"
    _edit(weekly, "    next: enjoyment", "    next: enjoymnet")
    weekly.write_text(weekly.read_text() + "  orphan:\n    say: nobody comes here\n")
    lines = run("flows", "check", str(folder)).stdout.splitlines()
    assert len(lines) == 2 and "step 'orphan' is unreachable" in lines[1]


def test_cron_errors_name_the_field_and_its_range(tmp_path):
    assert cron_problem("0 25 * * WED") == "hour 25 is out of range 0-23"
    assert cron_problem("61 10 * * MON") == "minute 61 is out of range 0-59"
    assert cron_problem("0 10 * 13 MON") == "month 13 is out of range 1-12"
    assert "day of week 'FUNDAY' is not a number" in cron_problem("0 10 * * FUNDAY")
    assert cron_problem("0 10 * *").startswith("it has 4 fields, not 5")
    assert cron_problem("0 10-12/2 1,15 JAN-MAR MON-FRI") == ""
    folder = _copy(tmp_path)
    weekly = folder / "weekly_checkin.yaml"
    _edit(weekly, 'schedule: "0 10 * * MON"', 'schedule: "0 25 * * WED"')
    result = run("flows", "check", str(folder))
    at = _line(weekly, 'schedule: "0 25 * * WED"')
    assert (f"{weekly}:{at}: bad cron expression '0 25 * * WED': hour 25 is out of range 0-23; "
            in result.stdout)


def test_a_missing_brace_is_reported_on_its_own_line(tmp_path):
    folder = _copy(tmp_path)
    weekly = folder / "weekly_checkin.yaml"
    _edit(weekly, "Hi {{ participant.first_name }}, check-in", "Hi {{ participant.first_name }, "
          "check-in")
    _edit(weekly, "small goal for this week? Reply GOAL.", "small goal for this week? "
          "Reply {{ pain }.")
    lines = run("flows", "check", str(folder)).stdout.splitlines()
    first, second = _line(weekly, "{{ participant.first_name },"), _line(weekly, "{{ pain }.")
    assert lines == [
        f"{weekly}:{first}: bad template in say: '{{{{ participant.first_name }}' is not closed: "
        "every '{{' needs '}}' (two closing braces), e.g. {{ participant.first_name }}",
        f"{weekly}:{second}: bad template in say: '{{{{ pain }}' is not closed: "
        "every '{{' needs '}}' (two closing braces), e.g. {{ participant.first_name }}"]


def test_flows_test_prints_a_broken_flow_file_once_for_all_its_cases(tmp_path):
    folder = _copy(tmp_path)
    weekly = folder / "weekly_checkin.yaml"
    _edit(weekly, "participant.first_name }}, check-in", "participant.frist_name }}, check-in")
    result = run("flows", "test", str(folder))
    assert result.returncode == 1
    at = _line(weekly, "frist_name", key="say:")
    problem = (f"{weekly}:{at}: say uses 'participant.frist_name', but participant has no "
               "'frist_name' (did you mean 'first_name'?)")
    scenarios = _scenarios_of(folder, "weekly_checkin")
    assert (result.stdout + result.stderr).count(problem) == len(scenarios)  # once per file
    assert f"{folder / 'tests' / 'weekly_checkin.yaml'}:1: no valid flow 'weekly_checkin'" \
        in result.stdout
    assert f"(this failed {scenarios['weekly_checkin.yaml']} cases:" in result.stdout
    assert "flow file refused" not in result.stderr


def test_flows_test_says_expected_against_actual_in_plain_words(tmp_path):
    folder = _copy(tmp_path)
    scenario = folder / "tests" / "weekly_checkin.yaml"
    _edit(scenario, "pain: 7,", "pain: 8,")
    result = run("flows", "test", str(folder))
    assert "expect_saved: pain was expected to be 8, but was saved as 7" in result.stdout
    failures = [line for line in result.stdout.splitlines() if line.startswith(str(scenario))]
    assert len(failures) == 1 and ": case " in failures[0]


def test_render_errors_are_in_plain_words_not_jinja_jargon():
    text, error = render("Hi {{ participant.goal }}", {"participant": {}})
    assert text == "Hi" and error is not None
    assert "dict object" not in error and "'goal' has no value here" in error
    _, error = evaluate("pain >= 8", {})
    assert error is not None and "is undefined" not in error
    assert "'pain' has no value here" in error
