"""`flows check`: each deliberately broken fixture yields its expected FILE:LINE message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.flows.folder import check_path, load_folder
from bot.flows.loader import problems_of

ROOT = Path(__file__).parent.parent
BROKEN = Path(__file__).parent / "fixtures" / "broken_flows"
GOOD = Path(__file__).parent / "fixtures" / "flows"
EXPECT = re.compile(r"^# expect: (\d+): (.+)$", re.MULTILINE)


def _expectations() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(BROKEN.glob("*.yaml")):
        for line, text in EXPECT.findall(path.read_text(encoding="utf-8")):
            found.append((path.name, int(line), text.strip()))
    return found


@pytest.fixture(scope="module")
def problems() -> list[str]:
    return check_path(BROKEN)


@pytest.mark.parametrize(("name", "line", "message"), _expectations(),
                         ids=lambda v: str(v)[:40])
def test_broken_fixture_reports_its_problem(problems, name, line, message):
    prefix = f"{BROKEN / name}:{line}: "
    matching = [p for p in problems if p.startswith(prefix) and message in p]
    assert matching, f"expected {prefix}{message}\ngot:\n" + "\n".join(
        p for p in problems if p.startswith(str(BROKEN / name)))


def test_every_broken_file_has_a_reported_expectation():
    names = {p.name for p in BROKEN.glob("*.yaml")}
    expected = {name for name, _, _ in _expectations()}
    assert names - expected <= {"dup_keyword_a.yaml", "dup_id_a.yaml"}


def test_every_problem_line_has_file_line_message(problems):
    assert len(problems) >= 30
    assert all(re.match(r"^\S+\.yaml:\d+: \S", p) for p in problems)


def test_fixture_flows_are_valid():
    assert check_path(GOOD) == []


def test_shipped_flows_folder_is_valid():
    """`peerline flows check flows/` passes on the content that ships."""
    result = CliRunner().invoke(main, ["flows", "check", str(ROOT / "flows")])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_cli_check_exits_1_with_one_line_per_problem(problems):
    result = CliRunner().invoke(main, ["flows", "check", str(BROKEN)])
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line]
    assert lines == problems


def test_check_one_file_reports_only_that_file():
    lines = check_path(BROKEN / "unreachable.yaml")
    assert lines == [f"{BROKEN / 'unreachable.yaml'}:7: step 'orphan' is unreachable "
                     "from start 'a'"]


def test_yaml_tags_never_construct_objects(tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr("os.system", lambda *a: called.append(a))
    flow, found = problems_of(BROKEN / "tag.yaml")
    assert called == [] and flow is None and "not allowed" in str(found[0])


def test_program_files_are_not_loaded_as_flows(tmp_path):
    for name in ("strategies.yaml", "nudges.yaml"):
        (tmp_path / name).write_text("strategies: []\n", encoding="utf-8")
    (tmp_path / "safety.yaml").write_text((ROOT / "flows" / "safety.yaml").read_text())
    (tmp_path / "hello.yaml").write_text("id: hello\nstart: a\nsteps:\n  a:\n    say: Hi\n")
    loaded = load_folder(tmp_path)
    assert [f.id for f in loaded.flows] == ["hello"] and loaded.problems == []


def test_variables_saved_on_every_path_are_fine(tmp_path):
    (tmp_path / "paths.yaml").write_text(
        "id: paths\nstart: a\nsteps:\n"
        "  a:\n    say: Q?\n    expect: yesno\n    save: ok\n"
        "    next:\n      - when: ok\n        go: b\n      - go: c\n"
        "  b:\n    say: 'B {{ ok }}'\n    next: d\n"
        "  c:\n    say: C\n    next: d\n"
        "  d:\n    say: 'D {{ ok }} {{ program.name }}'\n", encoding="utf-8")
    assert [str(p) for p in load_folder(tmp_path).problems] == []


@pytest.mark.parametrize(("name", "old", "new", "message"), [
    ("nudges.yaml", 'cron: "0 11 ', 'cron: "0 25 ', "bad cron '0 25 * * TUE,FRI'"),
    ("strategies.yaml", "id: pacing", "id: Pacing", "needs an `id` in lower case"),
])
def test_checking_one_program_file_reports_its_problems(tmp_path, name, old, new, message):
    """`peerline flows check flows/nudges.yaml` used to say "valid" whatever the file held."""
    for path in (ROOT / "flows").glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    text = (tmp_path / name).read_text(encoding="utf-8")
    assert old in text
    (tmp_path / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    lines = check_path(tmp_path / name)
    assert lines and all(line.startswith(f"{tmp_path / name}:") for line in lines), lines
    assert any(message in line for line in lines), lines
    result = CliRunner().invoke(main, ["flows", "check", str(tmp_path / name)])
    assert result.exit_code == 1


def test_a_choice_compared_as_text_or_through_int_is_fine(problems):
    """`mood == '2'` and `mood|int > 1` work at run time, so only the bare numbers are reported."""
    path = str(BROKEN / "choice_compared_to_number.yaml")
    assert [p.split(": ", 1)[0] for p in problems if p.startswith(path)] == [f"{path}:18",
                                                                             f"{path}:20"]
