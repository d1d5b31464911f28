"""The second generalisation pass of the safety screen, mechanism by mechanism (SPEC §10).

tests/safety/mechanisms.tsv holds examples the team wrote for each mechanism
the pass added (firearms in every shape, means access, attempts told by what
happened, overdose in other shapes, hanging and heights, the wish and the plan
in other words, burden and hopelessness, Spanish regionalisms, Spanglish and
spelling by ear) and the ordinary texts that guard them. They are not corpus
items (the corpus keeps its authored items a minority) and not held-out texts.
All of them go through `peerline safety screen`, the same code as the webhook.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.flows.safety import Tier
from bot.flows.safety_rules import sounds_like
from bot.flows.safety_text import words

REPO = Path(__file__).resolve().parent.parent
PEERLINE = Path(sys.executable).with_name("peerline")
EXAMPLES = REPO / "tests" / "safety" / "mechanisms.tsv"
ALLOWED = {"crisis": {"crisis"}, "flag": {"crisis", "concern"}, "none": {"none"},
           "notcrisis": {"none", "concern"}}


def examples() -> list[tuple[str, str, str]]:
    """Return (expected, mechanism, text) for every example line."""
    rows = []
    for line in EXAMPLES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            expected, mechanism, text = line.split("\t")
            rows.append((expected, mechanism, text))
    return rows


def test_the_examples_file_is_well_formed():
    rows = examples()
    assert len(rows) >= 300
    assert {expected for expected, _, _ in rows} <= set(ALLOWED)
    texts = [text for _, _, text in rows]
    assert len(set(texts)) == len(texts)
    assert all("\n" not in text and text.strip() == text for text in texts)


def test_every_mechanism_example_gets_its_tier_through_the_cli(tmp_path):
    rows = examples()
    config = tmp_path / "peerline.toml"
    config.write_text(f'[flows]\ndir = "{REPO / "flows"}"\n')
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PEERLINE_") or k.startswith("PEERLINE_TEST_")}
    done = subprocess.run([str(PEERLINE), "safety", "screen", "--config", str(config)],
                          input="".join(text + "\n" for _, _, text in rows), env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    verdicts = [line.split("\t", 1) for line in done.stdout.splitlines()]
    assert [text for _, text in verdicts] == [text for _, _, text in rows]
    wrong = [f"{mechanism}: {text!r} is {tier}, expected {expected}"
             for (expected, mechanism, text), (tier, _) in zip(rows, verdicts, strict=True)
             if tier not in ALLOWED[expected]]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("text", [
    "loaded the glock and held it to my temple", "gonna eat a bullet tonight",
    "cleaning my gun one last time tonight", "played russian roulette last night",
    "me voy a meter un plomazo", "un tiro y se acaba todo"])
def test_self_directed_firearm_wording_is_crisis(shipped, text):
    assert shipped.screen(text).tier is Tier.CRISIS


@pytest.mark.parametrize("text", [
    "shot a deer this morning", "pulled the trigger on a new truck",
    "if you put a gun to my head i couldnt tell you", "my 9mm jammed at the range today",
    "matamos dos pajaros de un tiro", "compre balas para la temporada de caza"])
def test_hunting_range_and_firearm_sayings_are_not_crisis(shipped, text):
    assert shipped.screen(text).tier is not Tier.CRISIS


@pytest.mark.parametrize("text", [
    "keep my pistol loaded under my pillow", "i sleep with a loaded gun now",
    "took the lock off my gun", "duermo con la pistola debajo de la almohada"])
def test_means_access_asks_the_direct_question(shipped, text):
    assert shipped.screen(text).tier is Tier.CONCERN


def test_spanish_spelled_by_ear_reads_as_the_word():
    assert sounds_like("bida") == sounds_like("vida")
    assert sounds_like("suisidarme") == sounds_like("suicidarme")
    assert sounds_like("aorcarme") == sounds_like("ahorcarme")
    assert sounds_like("kiero") == sounds_like("quiero")
    assert sounds_like("muchacho") == "muchacho"


@pytest.mark.parametrize("text", [
    "quiero quitarme la bida", "ya no quiero bibir", "quiero suisidarme", "boy a matarme",
    "i wnat to die", "i want ta die", "ion wanna be here no more", "wanna b dead"])
def test_spelling_by_ear_and_texting_forms_are_read(shipped, text):
    assert shipped.screen(text).tier is Tier.CRISIS


def test_short_english_words_are_not_read_by_ear(shipped):
    # "her" would sound like "er" (emergency room) if 3-letter words were read by ear
    assert shipped.screen("woke up in her arms this morning").tier is Tier.NONE
    assert words("a b") == ["a", "b"]


@pytest.mark.parametrize("text", [
    "me quiero kill", "I want to morir", "i dont want to vivir anymore", "voy a take all my pills",
    "me siento suicidal"])
def test_code_switching_is_read_both_ways(shipped, text):
    assert shipped.screen(text).tier is Tier.CRISIS


@pytest.mark.parametrize("text", [
    "i would never shoot myself, i have my grandkids", "i'm not going to end it, just venting",
    "i would never take all my pills", "no me voy a matar, tranquila", "nunca me mataria",
    "i have no plan to end my life"])
def test_the_writers_own_denial_asks_the_question_instead_of_the_crisis_reply(shipped, text):
    verdict = shipped.screen(text)
    assert verdict.tier is Tier.CONCERN
    assert verdict.family is not None


@pytest.mark.parametrize("text", [
    "got a gun now. ur not gonna talk me out of it",  # someone else's "not"
    "i can not even kill myself, i am going to try again",  # a failed attempt
    "ya no me quiero despertar",  # Spanish "no" before a wish makes the wish
    "i want to never wake up again", "no one would care, i want to kill myself"])
def test_a_negation_that_is_not_a_denial_stays_crisis(shipped, text):
    assert shipped.screen(text).tier is Tier.CRISIS
