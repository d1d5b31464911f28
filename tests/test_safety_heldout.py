"""The safety screen against the held-out set's TEST split (tests/safety/heldout/).

The held-out set was written before its authors read the screen's rules, from
sources the tuning corpus mostly does not cite, so it measures how the screen
does on language it has not seen. This test holds issue 10's figures on the
test split, texts and two-message pairs together: recall (either tier) >= 0.95
in English and >= 0.90 in Spanish, crisis-tier false alarms <= 5 % of hard
negatives, idioms flagged <= 2 %. On failure it prints the figures only, never
the test split's texts, so they cannot be tuned against; the dev split's misses
are in benchmarks/safety_heldout.py --missed and tests/safety/heldout/ANALYSIS.md.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bot.flows.safety import load_safety
from tests.safety.corpus import (
    MAX_CRISIS_FALSE_ALARMS,
    MAX_IDIOMS_FLAGGED,
    MIN_RECALL,
    Figures,
    Item,
)
from tests.safety.heldout_set import (
    HELDOUT_DIR,
    Pair,
    heldout_problems,
    in_split,
    load_pairs,
    load_texts,
    matcher_screen,
    measure_split,
    pair_key,
    split_of,
)

SHIPPED = Path(__file__).resolve().parent.parent / "flows" / "safety.yaml"


@pytest.fixture(scope="module")
def texts() -> list[Item]:
    return load_texts()


@pytest.fixture(scope="module")
def pairs() -> list[Pair]:
    return load_pairs()


def test_heldout_set_is_well_formed_and_new(texts: list[Item], pairs: list[Pair]) -> None:
    found = heldout_problems(texts, pairs)
    assert not found, "\n".join(found)


def test_heldout_set_has_its_sizes(texts: list[Item], pairs: list[Pair]) -> None:
    by = Counter((i.language, i.positive) for i in texts)
    assert by[("en", True)] + by[("es", True)] >= 300
    assert by[("en", False)] + by[("es", False)] >= 300
    assert by[("es", True)] >= 80 and by[("es", False)] >= 80
    assert {p.item.positive for p in pairs} == {True, False}
    assert {p.item.language for p in pairs} == {"en", "es"}


def test_split_is_a_fixed_hash_of_the_text_about_40_percent_dev(texts: list[Item]) -> None:
    assert split_of("i want to die") == split_of("  I want to DIE.  ")
    assert split_of("ya no quiero vivir") == split_of("Ya no quiero vívir")
    dev = len(in_split(texts, "dev")) / len(texts)
    assert 0.33 <= dev <= 0.47
    assert {split_of(i.text) for i in texts} == {"dev", "test"}


def test_pairs_are_split_by_both_texts(pairs: list[Pair]) -> None:
    assert all(split_of(pair_key(p)) in ("dev", "test") for p in pairs)
    assert pair_key(pairs[0]) == f"{pairs[0].previous}\n{pairs[0].item.text}"


def test_every_source_is_listed_in_heldout_sources_md(texts: list[Item],
                                                      pairs: list[Pair]) -> None:
    listed = (HELDOUT_DIR / "SOURCES.md").read_text(encoding="utf-8")
    missing = sorted({i.source for i in texts + [p.item for p in pairs]
                      if i.source != "authored" and f"`{i.source}`" not in listed})
    assert not missing, "tests/safety/heldout/SOURCES.md does not list:\n" + "\n".join(missing)


def summary(figures: Figures) -> str:
    """Return the four figures as one line (never the texts)."""
    return (f"recall en {figures.recall('en'):.3f} (>= {MIN_RECALL['en']}), "
            f"es {figures.recall('es'):.3f} (>= {MIN_RECALL['es']}); crisis-tier false "
            f"alarms {figures.crisis_false_alarms():.3f} (<= {MAX_CRISIS_FALSE_ALARMS}); "
            f"idioms flagged {figures.idioms_flagged():.3f} (<= {MAX_IDIOMS_FLAGGED})")


# Issue 10's targets (recall >= 0.95 en / 0.90 es) are met on the cited corpus, which the
# screen was tuned on. On this held-out test split of texts it never saw it measured
# 0.811 en / 0.878 es at the merge of the first generalisation work, and 0.843 en /
# 0.905 es after the second pass (docs/safety.md, "Second pass"): Spanish now meets its
# target, English does not yet. Until both are met, this test holds the screen to what it
# reached, so a change cannot make it worse unnoticed; `benchmarks/safety_heldout.py`
# prints the gap. Raise these floors when the screen reaches more; never lower them.
HELD_OUT_FLOOR = {"en": 0.84, "es": 0.90}


def test_screen_keeps_its_heldout_figures_and_the_false_alarm_limits(texts: list[Item],
                                                                      pairs: list[Pair]) -> None:
    matcher, report = load_safety(SHIPPED)
    assert matcher is not None, report.problems
    figures, _ = measure_split(matcher_screen(matcher), "test", texts, pairs)
    assert len(figures.tiers) >= 350
    # sentences only: the test split's texts stay unprinted
    fell = [f"recall ({language}) {figures.recall(language):.3f} < {floor}"
            for language, floor in HELD_OUT_FLOOR.items() if figures.recall(language) < floor]
    limits = [f for f in figures.failures() if not f.startswith("recall")]
    assert not fell + limits, (
        "the shipped screen fell on the held-out TEST split: "
        f"{summary(figures)}. Improve the screen by family from the DEV split "
        "(tests/safety/heldout/ANALYSIS.md, benchmarks/safety_heldout.py --missed); "
        "do not read the test split's misses.")


def test_benchmark_prints_both_splits_and_lists_only_dev_misses() -> None:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(root / "benchmarks" / "safety_heldout.py"),
                           "--root", str(root), "--missed"],
                          capture_output=True, text=True, timeout=120, check=True)
    out = done.stdout
    assert "== dev split:" in out and "== test split:" in out
    assert out.count("recall en:") == 2 and out.count("idioms flagged (either tier):") == 2
    listed = out.split("== test split:")[0]
    test_only = [i.text for i in in_split(load_texts(), "test")
                 if i.positive and len(i.text) > 25]
    after_dev = out.split("== test split:")[1]
    assert "MISSED (" in listed and "MISSED (" not in after_dev
    assert not [t for t in test_only if f"] {t}\n" in out]
