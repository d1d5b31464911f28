"""The safety screen against the labelled corpus in tests/safety/ (issue 10, SPEC 10).

The corpus is a measurement built from public sources (tests/safety/SOURCES.md),
never tuned against: the screen must catch crisis and concern texts in English
(recall >= 0.95) and Spanish (>= 0.90), give the crisis tier to at most 5 % of
the hard negatives, and flag at most 2 % of the idioms. A failure prints every
missed and false-alarm text by language and family, so staff see what broke.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.flows.safety import SafetyMatcher, load_safety
from tests.safety.corpus import (
    MAX_CRISIS_FALSE_ALARMS,
    MAX_IDIOMS_FLAGGED,
    MIN_RECALL,
    Figures,
    Item,
    counts,
    load_corpus,
    measure,
    problems,
)

SHIPPED = Path(__file__).resolve().parent.parent / "flows" / "safety.yaml"


def tier_function(matcher: SafetyMatcher) -> Callable[[str], str]:
    """Return the configured screen as text -> "crisis" | "concern" | "none".

    Uses `screen` (two tiers) where the matcher has it; a matcher with only
    `match` (one tier, before issue 10) is read as crisis-or-none.
    """
    screen = getattr(matcher, "screen", None)
    if screen is not None:
        return lambda text: str(screen(text).tier.value)
    return lambda text: "crisis" if matcher.match(text) is not None else "none"


@pytest.fixture(scope="module")
def corpus() -> list[Item]:
    return load_corpus()


@pytest.fixture(scope="module")
def figures(corpus: list[Item]) -> Figures:
    matcher, report = load_safety(SHIPPED)
    assert matcher is not None, report.problems
    return measure(tier_function(matcher), corpus)


def test_corpus_is_well_formed(corpus: list[Item]) -> None:
    found = problems(corpus)
    assert not found, "\n".join(found)


def test_corpus_covers_every_family_in_both_polarities_and_languages(corpus: list[Item]) -> None:
    by = counts(corpus)
    assert by["polarity/language"]["positive/es"] >= 60
    assert by["polarity/language"]["negative/es"] >= 60
    assert by["kind"]["authored"] * 2 < len(corpus)
    assert by["label"]["crisis"] and by["label"]["concern"]


def test_sources_md_lists_every_source(corpus: list[Item]) -> None:
    listed = (Path(__file__).parent / "safety" / "SOURCES.md").read_text(encoding="utf-8")
    missing = sorted({i.source for i in corpus if i.source != "authored"
                      and f"`{i.source}`" not in listed})
    assert not missing, "tests/safety/SOURCES.md does not list:\n" + "\n".join(missing)


def test_screen_holds_the_figures_on_the_corpus(figures: Figures) -> None:
    summary = (f"recall en {figures.recall('en'):.3f} (>= {MIN_RECALL['en']}), "
               f"es {figures.recall('es'):.3f} (>= {MIN_RECALL['es']}); crisis-tier false "
               f"alarms {figures.crisis_false_alarms():.3f} (<= {MAX_CRISIS_FALSE_ALARMS}); "
               f"idioms flagged {figures.idioms_flagged():.3f} (<= {MAX_IDIOMS_FLAGGED})")
    if figures.failures():  # a plain report (every missed and false-alarm text), no repr dump
        pytest.fail(f"{summary}\n{figures.report()}", pytrace=False)


def test_figures_count_what_they_say() -> None:
    crisis = Item("I want to die", "crisis", "wish_to_die", "en", "authored", "authored", "t")
    spanish = Item("me quiero morir", "crisis", "wish_to_die", "es", "authored", "authored", "t")
    idiom = Item("my back is killing me", "none", "idiom", "en", "authored", "authored", "t")
    pain = Item("this pain is killing me", "none", "pain", "en", "authored", "authored", "t")
    tiers = {"I want to die": "concern", "me quiero morir": "none",
             "my back is killing me": "concern", "this pain is killing me": "crisis"}
    got = measure(tiers.__getitem__, [crisis, spanish, idiom, pain])
    assert (got.recall("en"), got.recall("es")) == (1.0, 0.0)
    assert got.crisis_false_alarms() == 0.5  # the idiom's concern tier is no crisis false alarm
    assert got.idioms_flagged() == 1.0
    assert got.missed() == [spanish] and got.false_alarms() == [idiom, pain]
    assert "es/wish_to_die (1):\n    [none] me quiero morir" in got.report()
    assert "recall (es) 0.000 < 0.9" in got.failures()
