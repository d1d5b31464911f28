"""Answers spread over two texts, and ordinary words the typo rule misread (SPEC §10).

The webhook screens a text with the same number's previous text of the last
10 minutes read before it (bot/inbound/screen.py); a match lying wholly inside
the previous text does not count again. The seventh pass added rules whose
match spans both texts: the previous text restates a question about ways or
pills, or names a rope, and the current one answers with a weapon, a
stockpile, or nobody home till a day. Each half alone is not crisis. The
pass also found "losing" read as "noose" and "kissing" as "kms" by the
one-typo rule; both are everyday words and must stay none. Patterns are
compiled without IGNORECASE unless they hold an upper-case letter, and with a
leading boundary moved behind their first plain word(s) (speed only: the same
matches).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bot.flows.safety import SafetyMatcher, Tier
from bot.flows.safety_matcher import literal_first, pattern_flags
from bot.flows.safety_text import words

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rules(shipped: SafetyMatcher) -> SafetyMatcher:
    return dataclasses.replace(shipped, learned_layer=False)  # the rules alone, the floor


@pytest.mark.parametrize(("previous", "text"), [
    ("my therapist asked if i ever thought about how i would do it", "yes. the pistol"),
    ("you asked about the pills", "i have them stashed"),
    ("lo de las pastillas que me dijiste", "ya las tengo contadas"),
    ("me preguntaste la forma de hacerlo", "pues tengo la escopeta"),
    ("took the rope down from the shed", "no one is home until sunday"),
    ("ya tengo la soga", "nadie va a estar en casa hasta el lunes"),
    ("left letters for my sons", "for when im gone"),
])
def test_an_answer_over_two_texts_is_crisis_read_joined(rules, previous, text):
    assert rules.screen(text, previous=previous).tier is Tier.CRISIS
    assert rules.screen(text).tier is not Tier.CRISIS  # the answer alone says less


@pytest.mark.parametrize(("previous", "text"), [
    ("about the pills question", "they are in the lockbox, my wife keeps the key"),
    ("took the rifle out", "zeroing it for elk season, back sunday"),
    ("you asked how i do the stretches", "i have the band, every morning"),
])
def test_ordinary_pairs_stay_none(rules, previous, text):
    assert rules.screen(text, previous=previous).tier is Tier.NONE


@pytest.mark.parametrize("text", [
    "im losing my mind with this claim", "losing weight finally", "kissing the grandkids goodnight",
    "losing sleep over the letter from the VA"])
def test_everyday_words_the_typo_rule_misread_stay_none(rules, text):
    assert rules.screen(text).tier is Tier.NONE


@pytest.mark.parametrize("text", [
    "my buddy shot himself after losing his job", "when i was 17 i wanted to die, glad i held on",
    "cuando tenia 20 me queria morir, que bueno que pedi ayuda"])
def test_someone_elses_or_a_resolved_past_wish_asks_instead_of_the_crisis_reply(rules, text):
    assert rules.screen(text).tier is Tier.CONCERN


@pytest.mark.parametrize("text", [
    "when i was 17 i wanted to die and i want to die again now",
    "17 veterans a day kill themselves and i want to be next", "i keep losing, i want to die"])
def test_a_present_wish_beside_those_keeps_the_crisis_tier(rules, text):
    assert rules.screen(text).tier is Tier.CRISIS


def test_only_a_pattern_with_an_upper_case_letter_keeps_ignorecase():
    # the words patterns read are lower case, so the flag only slows a lower-case pattern
    assert pattern_flags(r"\b(?:took|swallowed) \w+ pills\b") == 0
    assert pattern_flags(r"\W*kill\S*") == 0  # upper-case escapes are not letters
    assert pattern_flags(r"\bKill myself\b") == re.IGNORECASE


def test_a_leading_boundary_moves_behind_plain_first_words_only():
    assert literal_first(r"\bmy (?:final|last)\b") == r"my (?<=\bmy )(?:final|last)\b"
    assert literal_first(r"\b(?:a drain|dead weight) to") == (
        r"(?:a drain(?<=\ba drain)|dead weight(?<=\bdead weight)) to")
    for kept in (r"\b(?:i )?love you", r"\b(?:ab|c\w+) y", r"\bx(?:y|z)", r"(?:took|ate) it",
                 r"\b(?:ab|cd)? y"):
        assert literal_first(kept) == kept


def test_every_shipped_pattern_finds_the_same_matches_word_first(rules: SafetyMatcher):
    examples = (REPO / "tests" / "safety" / "mechanisms.tsv").read_text(encoding="utf-8")
    texts = [" ".join(words(line.split("\t")[2])) for line in examples.splitlines()
             if line.strip() and not line.startswith("#")]
    texts.append(" ".join(texts[:300]))
    patterns = [p for family in rules.all_families() for p in family.patterns]
    moved = [p for p in patterns if literal_first(p) != p]
    assert len(moved) > len(patterns) // 2
    for pattern in moved:
        plain = re.compile(pattern, pattern_flags(pattern))
        fast = re.compile(literal_first(pattern), pattern_flags(pattern))
        for text in texts:
            assert [m.span() for m in fast.finditer(text)] == [
                m.span() for m in plain.finditer(text)]
