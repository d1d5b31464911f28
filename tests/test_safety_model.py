"""The safety screen's learned second layer (bot/flows/safety_model.py, SPEC §10).

Rules checked: the committed model file loads and scores deterministically, as
the training script computed it; the layer only raises a rules' `none` to
concern, never to crisis, and never lowers; texts under MIN_WORDS words are the
rules' alone; a missing or broken model file, or a fault while scoring, leaves
the rules' verdict; idioms, pain venting, dark humour and talk about others stay
unflagged. The idioms and ordinary texts below were written for this test after
the model was trained and are in no training file (the held-out figures are in
tests/test_safety_heldout.py). On the ordinary held-out set
(tests/safety/ordinary/, authored, never trained on) the layer raises at most
0.5 % of the texts.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
from array import array
from pathlib import Path

import pytest

from bot.flows import safety_model
from bot.flows.safety import SafetyMatcher, Tier
from bot.flows.safety_model import (
    BUCKETS,
    MIN_WORDS,
    MODEL_FILE,
    Model,
    decode,
    encode,
    features,
    load_model,
)
from tests.safety.corpus import load_corpus
from tests.safety.heldout_set import SETS, folded, load_texts
from tests.safety.ordinary_set import load_ordinary, raises
from tests.safety.ordinary_train import DEV, templated

REPO = Path(__file__).resolve().parent.parent
# Written for this test: the rules call it none, the layer scores it high.
RESCUED = "i keep thinking everyone would be fine if i just disappeared for good"

# Everyday sayings, pain venting, dark humour and talk about others (written for this test).
IDIOMS = (
    "my back is killing me again this morning",
    "these stairs are going to kill me one day",
    "me muero de dolor con esta rodilla",
    "me estoy muriendo de frio aqui afuera",
    "the pain in my hip is murder today",
    "if this headache doesn't quit I'm gonna lose it",
    "my neck is so stiff I could scream",
    "I swear this weather wants me dead lol",
    "dying to get out of this waiting room",
    "I nearly died of boredom at the VA today",
    "my wife will kill me if I miss another appointment",
    "my buddy says his knees are killing him too",
    "my neighbor's dog died and he is heartbroken",
    "esta espalda me va a matar un dia de estos",
    "mi suegra me va a matar si llego tarde",
    "me mata este dolor de cabeza",
    "the sciatica makes me want to rip my leg off",
    "ugh this pain, somebody shoot me lol",
)
# Ordinary program texts of four words or more (written for this test).
ORDINARY = (
    "can you remind me what my goal was",
    "the physical therapist gave me new exercises",
    "I want to try swimming at the Y",
    "pain was a 5 most of the day",
    "I need to reschedule with the pain clinic",
    "my truck broke down so I missed PT",
    "my granddaughter graduates on saturday",
    "I want to ask my doctor about the dose",
    "slept better with the new pillow",
    "the heating pad is my best friend lately",
    "I'm going to stop the ibuprofen, stomach hurts",
    "I give up on that stretching band, it snapped",
    "I can't find the paper with the exercises",
    "what number do I text if I have questions",
    "quiero preguntarle al doctor por otra medicina",
    "hoy camine media hora con mi esposa",
    "no me acuerdo a que hora es la cita",
    "ya no quiero tomar ese jarabe, sabe horrible",
    "mi nieto me ayudo con el telefono",
    "el dolor bajo un poco despues del masaje",
)


@pytest.fixture(scope="module")
def model() -> Model:
    loaded = load_model()
    assert loaded is not None, "bot/flows/safety_model.bin must load"
    return loaded


def test_the_committed_file_loads_with_its_training_notes(model: Model) -> None:
    assert len(model.weights) == BUCKETS and any(model.weights)
    assert 0.5 <= model.concern_threshold < 1.0
    assert "dev splits" in str(model.notes["trained_on"])
    assert "test split" not in str(model.notes["trained_on"])
    assert model.scale > 0 and model.notes["scale"] == model.scale
    assert model.notes["min_words"] == MIN_WORDS


def test_scores_are_deterministic_and_match_the_training_script(model: Model) -> None:
    checks = model.notes["check"]
    assert isinstance(checks, list) and len(checks) >= 4
    for text, expected in checks:
        assert model.score(text) == pytest.approx(expected, abs=1e-9)
        assert model.score(text) == model.score(text)
    fresh = decode(MODEL_FILE.read_bytes())
    assert fresh.score("I can not see a way forward anymore") == model.score(
        "I can not see a way forward anymore")


def test_features_are_the_hashed_ngrams_of_the_normalised_words() -> None:
    assert features("") == []
    one = features("Kill")  # " kill ": 4, 3 and 2 n-grams of 3, 4 and 5 characters, the word
    assert len(one) == 10 and one == sorted(set(one))
    assert all(0 <= bucket < BUCKETS for bucket in one)
    assert features("I'm   DONE") == features("im done")  # the rules' reading: i am done


def test_short_texts_score_zero(model: Model) -> None:
    for text in ("no", "stop", "I want to", "7", "", "   ", "between 3 and 5",
                 "everything but bedtime, all", "not yet i think"):
        assert model.score(text) == 0.0
    assert model.score("I want to die now") > 0.0


def test_round_trip_of_the_file_format() -> None:
    weights = [0] * BUCKETS
    for bucket in set(features("nobody would notice if i was gone")) - set(
            features("the game was fine and the food was good")):
        weights[bucket] = 30000
    data = encode(weights, -1.0, 0.9, {"scale": 1e-4})
    model = decode(data)
    assert model.bias == -1.0 and model.concern_threshold == 0.9
    assert model.raises("nobody would notice if i was gone")
    assert not model.raises("the game was fine and the food was good")
    with pytest.raises(ValueError):
        encode([0] * 10, 0.0, 0.9, {"scale": 1.0})


def test_a_broken_or_missing_file_switches_only_the_layer_off(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture
                                                              ) -> None:
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"not a model")
    short = tmp_path / "short.bin"
    short.write_bytes(gzip.compress(json.dumps({"buckets": 3}).encode() + b"\n\0\0"))
    with caplog.at_level(logging.ERROR, logger="bot.flows.safety_model"):
        assert load_model(broken) is None
        assert load_model(short) is None
        assert load_model(tmp_path / "missing.bin") is None
    assert "learned layer is off" in caplog.text


def test_the_layer_raises_none_to_concern_and_never_to_crisis(shipped: SafetyMatcher,
                                                              model: Model) -> None:
    rules = dataclasses.replace(shipped, learned_layer=False)
    assert rules.screen(RESCUED).tier is Tier.NONE and model.raises(RESCUED)
    verdict = shipped.screen(RESCUED)
    assert verdict.tier is Tier.CONCERN and verdict.family == "learned_layer"
    assert verdict.rule == f"score {model.score(RESCUED):.2f}"
    # a rules' concern stays concern: the layer is not asked
    assert shipped.screen("whats the point of me being here at all").family != "learned_layer"
    # a rules' crisis stays crisis; a rules' none the model scores low stays none
    assert shipped.screen("I want to kill myself").tier is Tier.CRISIS
    assert shipped.screen("went to the store for milk and eggs").tier is Tier.NONE
    for text in IDIOMS + ORDINARY:
        assert shipped.screen(text).tier is not Tier.CRISIS or rules.screen(
            text).tier is Tier.CRISIS


def test_a_fault_while_scoring_leaves_the_rules_verdict(shipped: SafetyMatcher,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    broken = Model(array("h", [1]), 0.0, 0.5, 1.0, {})  # too few buckets: IndexError
    monkeypatch.setattr("bot.flows.safety_matcher.load_model", lambda: broken)
    with caplog.at_level(logging.ERROR):
        assert shipped.screen("I want to kill myself").tier is Tier.CRISIS
        assert shipped.screen(RESCUED).tier is Tier.NONE
    assert "safety model fault" in caplog.text


def test_the_layer_can_be_switched_off(shipped: SafetyMatcher) -> None:
    assert dataclasses.replace(shipped, learned_layer=False).screen(RESCUED).tier is Tier.NONE


@pytest.mark.parametrize("text", IDIOMS)
def test_idioms_stay_unflagged_by_the_layer(model: Model, text: str) -> None:
    assert not model.raises(text), f"score {model.score(text):.3f}"


def test_ordinary_texts_are_rarely_asked(model: Model) -> None:
    raised = [text for text in ORDINARY if model.raises(text)]
    assert len(raised) <= 1, raised


def test_the_module_reads_the_committed_file_by_default() -> None:
    assert safety_model.MODEL_FILE == REPO / "bot" / "flows" / "safety_model.bin"
    assert MODEL_FILE.stat().st_size < 400_000


def test_the_layer_rarely_asks_on_the_ordinary_held_out_set(shipped: SafetyMatcher) -> None:
    texts = load_ordinary()
    assert len(texts) >= 250 and sum(t.language == "es" for t in texts) >= 0.35 * len(texts)
    got = raises(shipped, texts)
    assert got.by_layer <= 0.005 * got.total, got  # the rules' own raises are theirs
    rules = raises(dataclasses.replace(shipped, learned_layer=False), texts)
    assert rules.by_layer == 0 and rules.by_rules == got.by_rules


def test_the_texts_the_lead_reported_are_not_asked(shipped: SafetyMatcher) -> None:
    for text in ("me siento un poco mejor hoy", "between 3 and 5",
                 "everything but bedtime, all"):
        assert shipped.screen(text).tier is Tier.NONE, text


def test_no_ordinary_held_out_text_is_a_training_or_dev_text() -> None:
    held = {folded(t.text) for t in load_ordinary()}
    assert not held & {folded(text) for text, _, _ in templated()}
    assert not held & {folded(text) for text in DEV}


def test_the_layer_raises_no_idiom_of_the_corpus_or_held_out_sets(shipped: SafetyMatcher) -> None:
    idioms = [item.text for item in load_corpus() if item.family == "idiom"] + [
        item.text for folder in SETS.values() for item in load_texts(folder)
        if item.family == "idiom"]
    assert len(idioms) > 600
    raised = sum(shipped.screen(text).family == "learned_layer" for text in idioms)
    assert raised == 0, f"{raised} idioms raised by the layer"  # count only: test texts unprinted
