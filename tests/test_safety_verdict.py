"""How the screen reads a denial around the crisis words (bot/flows/safety_verdict.py, SPEC §10).

A crisis phrase the writer repeats as a question and answers no ("kill
myself? no way, just tired") gets the concern tier, never none; a Spanish
"no" is a denial only when no comma or stop follows it ("no me quiero
morir, solo estoy cansado" is concern, "no, me quiero matar" is crisis).
Everything else about a question, a joke or a denial keeps the crisis tier.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.flows.safety import Tier
from bot.flows.safety_verdict import QUESTION_DENIED, SPANISH_DENIAL

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text", [
    "kill myself? no way, just tired", "suicidal?? nah im good", "shoot myself? nope",
    "end it all? no lol i mean this call", "me quemo con cigarros? no, ya deje de fumar",
    "cortarme? no, jamas", "matarme? no manches", "no me quiero morir, solo estoy cansado",
    "no pienso matarme, solo estoy harto"])
def test_a_question_answered_no_or_a_spanish_denial_gets_the_question(shipped, text):
    verdict = shipped.screen(text)
    assert verdict.tier is Tier.CONCERN
    assert verdict.family is not None and verdict.family.startswith("negated ")


@pytest.mark.parametrize("text", [
    "should i just kill myself?", "kill myself? yes. tonight", "kill myself? maybe",
    "kill myself? no one would even notice", "kill myself? no joke i have the rope ready",
    "end it all? no, im serious this time", "lol i'm going to kill myself tonight",
    "no, i'm serious, i have the pills and i'm going to take them all tonight",
    "estoy bien? no, me quiero matar", "no, me quiero morir",
    "i want to kill myself? no, i WILL kill myself"])
def test_other_questions_jokes_and_answers_keep_the_crisis_tier(shipped, text):
    assert shipped.screen(text).tier is Tier.CRISIS


def test_the_question_denial_needs_the_question_mark_and_a_plain_no():
    assert QUESTION_DENIED.search("kill myself? no, just tired")
    assert QUESTION_DENIED.search("kill myself?? nah")
    assert not QUESTION_DENIED.search("kill myself no way")
    assert not QUESTION_DENIED.search("kill myself? no one cares")
    assert not QUESTION_DENIED.search("kill myself? no, i'm serious")
    assert not QUESTION_DENIED.search("kill myself? no more pain")


def test_a_spanish_denial_has_no_stop_after_its_no():
    assert SPANISH_DENIAL.search("no me voy a matar")
    assert SPANISH_DENIAL.search("no quiero morir")
    assert not SPANISH_DENIAL.search("no, me quiero matar")
    assert not SPANISH_DENIAL.search("no. quiero morirme")


def test_a_denial_reached_through_the_previous_text_is_read_in_place(shipped):
    # the question's words end where the current text's "?" is, after the previous text's words
    assert shipped.screen("kill myself? no, just tired", previous="how are you").tier \
        is Tier.CONCERN
    assert shipped.screen("? no", previous="i am going to kill myself").tier is Tier.NONE


def test_every_safety_module_stays_under_400_lines():
    for module in sorted((REPO / "bot" / "flows").glob("safety*.py")):
        assert len(module.read_text().splitlines()) <= 400, module.name
