"""`peerline safety screen` as a real subprocess; safety.yaml problems as FILE:LINE (SPEC 5, 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.flows.folder import check_path
from bot.flows.safety import load_safety

REPO = Path(__file__).resolve().parent.parent
PEERLINE = Path(sys.executable).with_name("peerline")
TEXTS = "I want to die\nmy back is killing me\nI cannot go on\nk1ll mys3lf\n\nme quiero morir\n"


def run(*args: str, stdin: str = "", cwd: Path | None = None) -> Any:
    # no PEERLINE_* settings (conftest sets PEERLINE_FLOWS_DIR): only --config speaks
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PEERLINE_") or k.startswith("PEERLINE_TEST_")}
    return subprocess.run([str(PEERLINE), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env=env, cwd=cwd or os.getcwd())


def config_for(folder: Path, flows: Path) -> Path:
    path = folder / "peerline.toml"
    path.write_text(f'[flows]\ndir = "{flows}"\n')
    return path


def test_screen_prints_one_verdict_per_line_with_the_configured_file(tmp_path):
    result = run("safety", "screen", "--config", str(config_for(tmp_path, REPO / "flows")),
                 stdin=TEXTS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "crisis\tI want to die", "none\tmy back is killing me", "concern\tI cannot go on",
        "crisis\tk1ll mys3lf", "none\t", "crisis\tme quiero morir"]


def test_screen_uses_the_configured_phrases_not_only_the_built_in_ones(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "safety.yaml").write_text(
        "reply: 'Call 988 then press 1, or text 838255.'\n"
        "learned_layer: no\n"
        "families:\n  test:\n    tier: crisis\n    phrases: [blue elephant]\n")
    result = run("safety", "screen", "--config", str(config_for(tmp_path, flows)),
                 stdin="a BLUE elephant\nI want to die\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["crisis\ta BLUE elephant", "none\tI want to die"]


def test_screen_works_with_no_config_at_all(tmp_path):
    result = run("safety", "screen", stdin=TEXTS, cwd=tmp_path)  # no config, no flows folder
    assert result.returncode == 0, result.stderr
    assert "built-in safety screen" in result.stderr
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == [
        "crisis", "none", "concern", "crisis", "none", "crisis"]


def test_a_broken_safety_file_prints_its_problems_and_exits_1(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "safety.yaml").write_text(
        "reply: 'Call us.'\n"
        "families:\n"
        "  direct:\n"
        "    tier: crisis\n"
        "    phrases:\n"
        "      - (kill myself\n")
    result = run("safety", "screen", "--config", str(config_for(tmp_path, flows)),
                 stdin="I want to die\n")
    assert result.returncode == 1
    assert result.stdout == "" and "Traceback" not in result.stderr
    path = flows / "safety.yaml"
    assert f"{path}:1: reply must give the Veterans Crisis Line" in result.stderr
    assert f"{path}:6: phrase '(kill myself': a '(' is not closed" in result.stderr


def test_help_names_the_command():
    result = run("safety", "screen", "--help")
    assert result.returncode == 0 and "--config" in result.stdout


BROKEN = """\
reply: "Call 988 then press 1, or text 838255. I've let your coach know."
concern_reply: 'Call 988 then press 1, or text 838255.'
lists:
  pills: [pills, oxy]
families:
  direct:
    tier: crisis
    phrases:
      - kill myself
      - <guns> to my head
      - k*
      - (a|b
      - really
    patterns:
      - '(unclosed'
  sayings:
    tier: sometimes
    phrases: [to die for]
  empty:
    tier: concern
  grief:
    tier: concern
    context: maybe
    phrases: [killed himself]
    colour: red
"""


@pytest.mark.parametrize("line,message", [
    (1, "reply must not say who was told"),
    (2, "concern_reply must ask directly, once"),
    (10, "phrase '<guns> to my head': unknown list <guns>; lists are named under `lists:` "
         "(<pills>)"),
    (11, "phrase 'k*': a word start needs 3 or more letters before the *"),
    (12, "phrase '(a|b': a '(' is not closed with ')'"),
    (13, "phrase 'really': the phrase has no words"),
    (15, "bad pattern '(unclosed'"),
    (17, "family 'sayings': tier must be crisis, concern or none"),
    (19, "family 'empty' has no phrases"),
    (23, "family 'grief': context must be yes or no"),
    (25, "unknown key 'colour' in family 'grief'"),
])
def test_every_bad_entry_is_a_file_line_problem(tmp_path, line, message):
    path = tmp_path / "safety.yaml"
    path.write_text(BROKEN)
    matcher, report = load_safety(path)
    assert matcher is None
    problems = [str(p) for p in report.problems]
    assert any(p.startswith(f"{path}:{line}: {message}") for p in problems), problems
    assert any(p.startswith(f"{path}:{line}: ") for p in check_path(path))


def test_a_file_without_any_crisis_rule_is_refused(tmp_path):
    path = tmp_path / "safety.yaml"
    path.write_text("reply: 'Call 988 then press 1, or text 838255.'\n"
                    "families:\n  sad:\n    tier: concern\n    phrases: [so sad]\n")
    matcher, report = load_safety(path)
    assert matcher is None
    assert [str(p) for p in report.problems] == [
        f"{path}:2: phrases must list the crisis phrases (or a family with tier: crisis)"]


def test_the_shipped_file_is_valid_and_organised_by_family():
    matcher, report = load_safety(REPO / "flows" / "safety.yaml")
    assert matcher is not None, report.problems
    names = {family.name for family in matcher.families}
    assert {"direct_intent", "passive_wish", "method_overdose", "method_firearm",
            "method_other", "self_harm", "slang", "preparation_farewell", "past_attempt",
            "hopelessness", "burden", "leaving_signs", "idioms"} <= names
    text = (REPO / "flows" / "safety.yaml").read_text()
    for name in names:  # each family has a comment above it for the clinician
        before = text.split(f"\n  {name}:\n")[0].rstrip().splitlines()[-1]
        assert before.strip().startswith("#"), name
