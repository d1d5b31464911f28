"""The safety screen against the second held-out set's TEST split (tests/safety/heldout2/).

The second held-out set was written blind (its authors never read the screen's
rules or ran the screen before committing it), by other authors than the first
held-out set, from sources neither the tuning corpus nor the first held-out set
cites; every item is cited, item by item, in heldout2/SOURCES.md. This test
checks its format and citations, and holds the shipped screen to floors at the
figures first measured on its test split (heldout2/README.md), rounded down by
0.02 for recall; the false-alarm limits are the measured figure plus 0.02 or
issue 10's limit, whichever is looser. Another branch is improving the screen;
the lead raises these floors after merging. On failure it prints the figures
only, never the test split's texts.
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
    Item,
    load_corpus,
    normalized,
)
from tests.safety.heldout_set import (
    HELDOUT2_DIR,
    HELDOUT2_MINIMUMS,
    HELDOUT_DIR,
    Pair,
    citation_rows,
    heldout_problems,
    in_split,
    load_pairs,
    load_texts,
    matcher_screen,
    measure_split,
    pair_key,
    split_of,
)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "flows" / "safety.yaml"
# First measured on the test split on 2026-12-05, screen of main ad5e13e (heldout2/README.md):
# recall en 0.703, es 0.706; crisis-tier false alarms 0.017; idioms flagged 0.019. After the
# merge of the second pass: 0.743 / 0.765. After the third pass (docs/safety.md, "Third
# pass", worked from the dev split only): 0.784 / 0.843, false alarms 0.017 / 0.019; the
# floors are those figures less 0.02.
RECALL_FLOOR = {"en": 0.76, "es": 0.82}
MAX_FALSE_ALARMS = max(MAX_CRISIS_FALSE_ALARMS, 0.04)
MAX_IDIOMS = max(MAX_IDIOMS_FLAGGED, 0.04)


@pytest.fixture(scope="module")
def texts() -> list[Item]:
    return load_texts(HELDOUT2_DIR)


@pytest.fixture(scope="module")
def pairs() -> list[Pair]:
    return load_pairs(HELDOUT2_DIR)


def test_heldout2_is_well_formed_and_repeats_no_earlier_text(texts: list[Item],
                                                             pairs: list[Pair]) -> None:
    earlier = (load_corpus() + load_texts(HELDOUT_DIR)
               + [p.item for p in load_pairs(HELDOUT_DIR)])
    found = heldout_problems(texts, pairs, corpus=earlier, minimums=HELDOUT2_MINIMUMS)
    assert not found, "\n".join(found)


def test_heldout2_has_its_sizes_languages_and_a_sourced_majority(texts: list[Item],
                                                                pairs: list[Pair]) -> None:
    by = Counter((i.language, i.positive) for i in texts)
    assert by[("en", True)] + by[("es", True)] >= 180
    assert by[("en", False)] + by[("es", False)] >= 180
    assert by[("es", True)] >= 70 and by[("es", False)] >= 70
    assert 0.5 <= (by[("en", True)] + by[("en", False)]) / len(texts) <= 0.7
    assert {p.item.positive for p in pairs} == {True, False}
    assert {p.item.language for p in pairs} == {"en", "es"}
    kinds = Counter(i.kind for i in texts + [p.item for p in pairs])
    assert kinds["verbatim"] + kinds["adapted"] > kinds["authored"] > 0


def test_split_is_the_first_sets_hash_about_40_percent_dev(texts: list[Item],
                                                           pairs: list[Pair]) -> None:
    assert split_of("me quiero morir") == split_of("  Me quiero MORÍR.  ")
    dev = len(in_split(texts, "dev")) / len(texts)
    assert 0.33 <= dev <= 0.47
    assert {split_of(pair_key(p)) for p in pairs} == {"dev", "test"}


def test_every_item_and_source_is_cited_in_sources_md(texts: list[Item],
                                                      pairs: list[Pair]) -> None:
    listed = (HELDOUT2_DIR / "SOURCES.md").read_text(encoding="utf-8")
    lines = set(listed.splitlines())
    uncited = [row for row in citation_rows(texts, pairs) if row not in lines]
    assert not uncited, ("tests/safety/heldout2/SOURCES.md has no row for "
                         f"{len(uncited)} items (file, text, kind, source); add them:\n"
                         + "\n".join(uncited))
    sources = {i.source for i in texts + [p.item for p in pairs]}
    missing = sorted(s for s in sources if f"| `{s}` |" not in listed)
    assert not missing, "heldout2/SOURCES.md's source table does not list:\n" + "\n".join(missing)


def test_heldout2_cites_no_source_of_the_earlier_sets(texts: list[Item],
                                                      pairs: list[Pair]) -> None:
    earlier = {i.source for i in load_corpus() + load_texts(HELDOUT_DIR)
               + [p.item for p in load_pairs(HELDOUT_DIR)]}
    shared = sorted({i.source for i in texts + [p.item for p in pairs]} & earlier - {"authored"})
    assert not shared, "heldout2 must use other sources; it shares:\n" + "\n".join(shared)


def test_screen_keeps_its_heldout2_floors(texts: list[Item], pairs: list[Pair]) -> None:
    matcher, report = load_safety(SHIPPED)
    assert matcher is not None, report.problems
    figures, _ = measure_split(matcher_screen(matcher), "test", texts, pairs)
    assert len(figures.tiers) >= 230
    alarms, idioms = figures.crisis_false_alarms(), figures.idioms_flagged()
    # sentences only: the test split's texts stay unprinted
    fell = [f"recall ({language}) {figures.recall(language):.3f} < {floor}"
            for language, floor in RECALL_FLOOR.items() if figures.recall(language) < floor]
    fell += [f"crisis-tier false alarms {alarms:.3f} > {MAX_FALSE_ALARMS}"] * (
        alarms > MAX_FALSE_ALARMS)
    fell += [f"idioms flagged {idioms:.3f} > {MAX_IDIOMS}"] * (idioms > MAX_IDIOMS)
    assert not fell, (
        "the shipped screen fell below its floors on the heldout2 TEST split: "
        + "; ".join(fell) + ". Improve the screen by family, never by reading this "
        "split's texts (tests/safety/heldout2/README.md).")


def test_benchmark_scores_heldout2_by_split_and_keeps_the_default_set() -> None:
    run = [sys.executable, str(ROOT / "benchmarks" / "safety_heldout.py"), "--root", str(ROOT)]
    out = subprocess.run(run + ["--set", "heldout2"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    texts = load_texts(HELDOUT2_DIR)
    assert f"held-out set heldout2: {len(texts)} texts" in out
    assert "== dev split:" in out and "== test split:" in out
    assert out.count("recall es:") == 2
    assert not [t for t in (normalized(i.text) for i in in_split(texts, "test")) if t in out]
    default = subprocess.run(run + ["--split", "dev"], capture_output=True, text=True,
                             timeout=120, check=True).stdout
    assert f"held-out set heldout: {len(load_texts(HELDOUT_DIR))} texts" in default
