"""Test the shipped content against the program's writing rules (short, safe, no scores echoed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from ruamel.yaml import YAML

from bot.keywords import HELP_WORDS, START_WORDS, STOP_WORDS
from bot.program_files import NOT_FLOWS

FLOWS = Path(__file__).resolve().parent.parent / "flows"
FLOW_FILES = sorted(p for p in FLOWS.glob("*.yaml") if p.name not in NOT_FLOWS)
ENV = SandboxedEnvironment()
# long names and the longest goal answers, to measure the worst case
SAMPLE = {"participant": {"first_name": "Christopher"}, "coach": {"first_name": "Alexandra"},
          "program": {"name": "PeerLine"}, "goal_what": "w" * 100, "goal_when": "x" * 100}
SCORES = {"pain", "enjoyment", "activity", "goal_confidence"}


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def _texts(flow: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Yield (step, kind, template) for every text a flow can send."""
    for step_id, step in flow["steps"].items():
        says = step.get("say", [])
        for text in says if isinstance(says, list) else [says]:
            yield step_id, "say", text
        for kind in ("invalid", "notify_coach", "escalate"):
            if kind in step:
                yield step_id, kind, step[kind]
        if "nudge" in step:
            yield step_id, "nudge", step["nudge"]["say"]


def test_the_expected_flows_ship() -> None:
    ids = {_load(p)["id"] for p in FLOW_FILES}
    assert {"welcome", "weekly_checkin", "strategies_pick", "goal", "coach", "fallback"} <= ids


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.name)
def test_every_text_fits_and_every_flow_has_scenarios(path: Path) -> None:
    flow = _load(path)
    for step_id, kind, text in _texts(flow):
        rendered = ENV.from_string(text).render(**SAMPLE)
        assert len(rendered) <= 320, f"{path.name} {step_id} {kind}: {len(rendered)} chars"
    scenario = FLOWS / "tests" / path.name
    assert _load(scenario)["flow"] == flow["id"]
    assert len(_load(scenario)["cases"]) >= 2 or flow["id"] == "coach"


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.name)
def test_no_score_is_echoed_to_the_veteran_or_the_coach(path: Path) -> None:
    for step_id, kind, text in _texts(_load(path)):
        if kind == "escalate":
            continue
        names = meta.find_undeclared_variables(ENV.parse(text))
        assert not names & SCORES, f"{path.name} {step_id} {kind} shows {names & SCORES}"


def test_no_flow_keyword_is_a_consent_word_or_shared() -> None:
    consent = STOP_WORDS | START_WORDS | HELP_WORDS
    seen: dict[str, str] = {}
    for path in FLOW_FILES:
        for word in _load(path).get("trigger", {}).get("keywords", []):
            assert word.upper() not in consent, f"{path.name}: {word} is a consent word"
            assert word.upper() not in seen, f"{word} in {path.name} and {seen[word.upper()]}"
            seen[word.upper()] = path.name


def test_welcome_says_what_the_rules_require() -> None:
    flow = _load(FLOWS / "welcome.yaml")
    text = " ".join(t for _, kind, t in _texts(flow) if kind == "say")
    for needed in ("{{ coach.first_name }}", "24/7", "can't reach your doctor",
                   "dial 988 then press 1", "text 838255", "Msg & data rates may apply",
                   "HELP", "STOP", "a few texts a week",
                   # consent: who reads the texts, and what the answers are used for
                   "{{ coach.first_name }} and program staff read your texts",
                   "answers are used for the program and its research"):
        assert needed in " ".join(text.split()), needed
    opening = [s for s in flow["steps"].values() if "say" in s]
    assert 2 <= len(opening) <= 4


def test_weekly_checkin_asks_the_three_peg_items() -> None:
    flow = _load(FLOWS / "weekly_checkin.yaml")
    assert flow["trigger"]["schedule"] == "0 10 * * MON"
    assert set(flow["trigger"]["keywords"]) == {"CHECKIN", "PAIN"}
    asked = [s for s in flow["steps"].values() if "expect" in s]
    assert [s["save"] for s in asked] == ["pain", "enjoyment", "activity"]
    for step in asked:
        assert step["expect"] == {"type": "number", "min": 0, "max": 10}
        assert "past week" in step["say"] and step["retries"] == 1
        assert step["timeout"]["after"] == "24h"
        assert "escalate" in flow["steps"][step["timeout"]["go"]]
    hard = flow["steps"]["hard_week"]
    assert "VA care team" in hard["say"] and "notify_coach" in hard
