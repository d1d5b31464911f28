"""Test the shipped content against the program's writing rules (short, safe, no scores echoed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from ruamel.yaml import YAML

from bot.flows.frequency import per_week
from bot.flows.keywords import HELP_WORDS, START_WORDS, STOP_WORDS
from bot.flows.program_files import NOT_FLOWS

FLOWS = Path(__file__).resolve().parent.parent / "flows"
FLOW_FILES = sorted(p for p in FLOWS.glob("*.yaml") if p.name not in NOT_FLOWS)
ENV = SandboxedEnvironment()
# long names and the longest goal answers, to measure the worst case
SAMPLE = {"participant": {"first_name": "Christopher", "week": 16, "weeks": 16,
                          "goal": {"what": "w" * 100, "due": True}},
          "coach": {"first_name": "Alexandra"},
          "program": {"name": "PeerLine", "care_team_contact": "call your VA primary care team "
                      "(PACT) or send them a secure message on My HealtheVet"},
          "goal_what": "w" * 100, "goal_when": "x" * 100}
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
                   "dial 988 then press 1", "text 838255", "chat VeteransCrisisLine.net",
                   "Msg & data rates may apply",
                   "HELP", "STOP", "{{ program.texts_per_week }} texts a week",
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
    asked = [s for s in flow["steps"].values()
             if s.get("expect", {}).get("type") == "number"]
    assert [s["save"] for s in asked] == ["pain", "enjoyment", "activity"]
    for step in asked:
        assert step["expect"] == {"type": "number", "min": 0, "max": 10}
        assert "past week" in step["say"] and step["retries"] == 1
        assert step["timeout"]["after"] == "24h"
    # one missed check-in is no escalation (SPEC 12); two in a row tell the coach once
    assert not any("escalate" in step for step in flow["steps"].values())
    assert "missed_checkins" in str(flow["steps"]["no_reply"]["next"])
    hard = flow["steps"]["hard_week"]
    assert "program.care_team_contact" in hard["say"] and "notify_coach" in hard
    assert flow["steps"]["activity"]["next"][0] == {"when": "hard_week()", "go": "hard_week"}
    assert flow["steps"]["goal_check"]["save"] == "goal_result"


# Krebs et al. 2009 (J Gen Intern Med 24(6):733-8), Figure 1: the items and their anchors.
PEG_ITEMS = {
    "pain": ("What number best describes your pain on average in the past week?",
             "0 = No pain", "10 = Pain as bad as you can imagine"),
    "enjoyment": ("What number best describes how, during the past week, pain has interfered "
                  "with your enjoyment of life?", "0 = Does not interfere",
                  "10 = Completely interferes"),
    "activity": ("What number best describes how, during the past week, pain has interfered "
                 "with your general activity?", "0 = Does not interfere",
                 "10 = Completely interferes"),
}


@pytest.mark.parametrize("step", sorted(PEG_ITEMS))
def test_the_peg_items_keep_their_published_wording_and_anchors(step: str) -> None:
    flow = _load(FLOWS / "weekly_checkin.yaml")
    said = " ".join(flow["steps"][step]["say"].split())
    for part in PEG_ITEMS[step]:
        assert part in said, f"weekly_checkin {step}: {part!r} is not in {said!r}"
    assert flow["steps"][step]["expect"] == {"type": "number", "min": 0, "max": 10}


# Drafts go out under the coach's name once approved: they must not put words of lived
# experience in the coach's mouth ("Helps me more than I expected") that the coach never said.
FIRST_PERSON_CLAIM = re.compile(
    r"\b(helps? me|helped me|works? for me|worked for me|i(?:'ve| have)? found|"
    r"in my experience|my (?:own )?(?:pain|back|knees?|flare)|i(?:'ve| have) been there|"
    r"when i (?:hurt|flare))\b", re.IGNORECASE)


def _drafted_texts() -> Iterator[tuple[str, str]]:
    for strategy in _load(FLOWS / "strategies.yaml")["strategies"]:
        for text in strategy["reminders"]:
            yield f"strategies.yaml {strategy['id']}", text
    for schedule in _load(FLOWS / "nudges.yaml")["schedules"]:
        for text in schedule.get("texts", []):
            yield f"nudges.yaml {schedule['id']}", text
    for path in FLOW_FILES:
        for step_id, kind, text in _texts(_load(path)):
            if kind == "nudge":
                yield f"{path.name} {step_id}", text


def test_drafts_make_no_first_person_claims_for_the_coach() -> None:
    claims = [(where, text) for where, text in _drafted_texts() if FIRST_PERSON_CLAIM.search(text)]
    assert not claims, claims


def test_the_claim_check_catches_the_old_wording() -> None:
    assert FIRST_PERSON_CLAIM.search("Breathe in for 4, out for 6. Helps me more than I expected.")
    assert not FIRST_PERSON_CLAIM.search("Text me back, I'll answer when I can.")


def test_texts_per_week_counts_what_the_program_schedules() -> None:


    assert per_week(("0 10 * * MON",)) == 1
    assert per_week(("0 10 * * MON", "0 11 * * TUE,FRI", "0 14 * * WED")) == 4  # as shipped
    assert per_week(("0 10 * * MON#1",)) == 0  # monthly rounds to none a week
    assert per_week(()) == 0
