"""The safety screen against every held-out set's TEST split (tests/safety/heldout*/).

Rules: each held-out folder was written before its authors read the screen's rules,
from sources the tuning corpus (and, for the later sets, every earlier set) does not
cite, so its test split measures the screen on language it has not seen. For every
folder this module checks the format, the sizes, the fixed-hash split, the citations
(the later sets cite every item in their SOURCES.md and share no source with an earlier
set) and holds the shipped screen to that folder's floors on the test split, texts and
two-message pairs together. Recall floors sit just below the measured figures (never
lowered; raised when the screen reaches more); the false-alarm limits are issue 10's or
the measured figure plus 0.02, whichever is looser. On failure it prints figures only,
never the test split's texts; the dev split's misses are in
benchmarks/safety_heldout.py --missed.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.flows.safety import load_safety
from tests.safety.corpus import (
    MAX_CRISIS_FALSE_ALARMS,
    MAX_IDIOMS_FLAGGED,
    Figures,
    Item,
    load_corpus,
    normalized,
)
from tests.safety.heldout_set import (
    SETS,
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


@dataclass(frozen=True)
class HeldOut:
    """One held-out folder's sizes, floors and limits (figures from its README and docs)."""

    name: str
    minimums: tuple[int, int, int]  # least positives, hard negatives, Spanish of each
    english_share: tuple[float, float]
    least_test_items: int
    recall_floor: dict[str, float]
    max_false_alarms: float
    max_idioms: float
    cites_every_item: bool
    rules_floor: dict[str, float]  # the rules alone (learned_layer off), so the layer hides no loss


HELD_OUT = (
    # Test split: 0.811 en / 0.878 es at the first generalisation merge, 0.843 / 0.905
    # after the second pass (docs/safety.md), unchanged by the third and fourth;
    # issue 10's false-alarm limits hold. With the learned layer (docs/safety.md, "The
    # learned layer"): 0.937 / 0.919, false alarms 0.010, idioms 0.000; 0.925 / 0.919
    # with the layer retrained on ordinary texts (threshold 0.95, 5+ words); 0.937 /
    # 0.919 after the fifth pass (rules 0.849 / 0.919, layer retrained at 0.94); 0.950 /
    # 0.932 after the seventh (rules 0.855 / 0.919, layer retrained at 0.92); 0.950 /
    # 0.946 after the eighth (rules 0.855 / 0.932).
    HeldOut("heldout", (300, 300, 80), (0.4, 0.8), 350, {"en": 0.94, "es": 0.94},
            MAX_CRISIS_FALSE_ALARMS, MAX_IDIOMS_FLAGGED, cites_every_item=False,
            rules_floor={"en": 0.85, "es": 0.93}),
    # Test split: 0.703 / 0.706 at its first run (heldout2/README.md), 0.784 / 0.843
    # after the third pass, 0.784 / 0.863 after the fourth; false alarms 0.017, idioms
    # 0.019; 0.824 / 0.922 with the learned layer, false alarms and idioms unchanged;
    # 0.824 / 0.902 with the layer retrained on ordinary texts; 0.838 / 0.922 after the
    # fifth pass (rules 0.784 / 0.882); 0.865 / 0.941 after the seventh (rules unchanged).
    HeldOut("heldout2", (180, 180, 70), (0.5, 0.7), 230, {"en": 0.86, "es": 0.94},
            max(MAX_CRISIS_FALSE_ALARMS, 0.04), max(MAX_IDIOMS_FLAGGED, 0.04),
            cites_every_item=True, rules_floor={"en": 0.78, "es": 0.88}),
    # Test split: 0.794 / 0.535 at its first run (heldout3/README.md), 0.794 / 0.558
    # after the fourth pass (docs/safety.md); false alarms 0.053, idioms 0.077; 0.841 /
    # 0.721 with the learned layer, false alarms and idioms unchanged; 0.810 / 0.628 with
    # the layer retrained on ordinary texts; 0.841 / 0.721 after the fifth pass (rules
    # 0.794 / 0.605); 0.841 / 0.767 after the seventh (rules 0.810 / 0.628); 0.857 /
    # 0.767 after the eighth (rules 0.825 / 0.628).
    HeldOut("heldout3", (150, 150, 60), (0.5, 0.7), 190, {"en": 0.85, "es": 0.76},
            0.073, 0.097, cites_every_item=True, rules_floor={"en": 0.82, "es": 0.62}),
    # Test split at its first and only run (heldout4/README.md): 0.742 / 0.765 (rules alone
    # 0.581 / 0.725); crisis-tier false alarms 0.027 (issue 10's 0.05 is looser than
    # 0.027 + 0.02), idioms flagged 0.028. After the seventh pass (its dev split read):
    # 0.742 / 0.824 (rules 0.581 / 0.765), false alarms and idioms unchanged. After the
    # eighth (families the team wrote, no set read): 0.742 / 0.824 (rules 0.597 / 0.765).
    HeldOut("heldout4", (150, 150, 60), (0.5, 0.7), 220, {"en": 0.74, "es": 0.82},
            MAX_CRISIS_FALSE_ALARMS, 0.048, cites_every_item=True,
            rules_floor={"en": 0.59, "es": 0.76}),
)
NAMES = [h.name for h in HELD_OUT]


def earlier_items(name: str) -> list[Item]:
    """Return the corpus and every text and pair of the sets before `name`."""
    items = load_corpus()
    for held in HELD_OUT:
        if held.name == name:
            return items
        items += load_texts(SETS[held.name]) + [p.item for p in load_pairs(SETS[held.name])]
    raise KeyError(name)


@pytest.fixture(scope="module", params=HELD_OUT, ids=NAMES)
def held(request: pytest.FixtureRequest) -> HeldOut:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def texts(held: HeldOut) -> list[Item]:
    return load_texts(SETS[held.name])


@pytest.fixture(scope="module")
def pairs(held: HeldOut) -> list[Pair]:
    return load_pairs(SETS[held.name])


def test_every_held_out_folder_is_measured_here() -> None:
    assert NAMES == list(SETS)


def test_set_is_well_formed_and_repeats_no_earlier_text(held: HeldOut, texts: list[Item],
                                                        pairs: list[Pair]) -> None:
    found = heldout_problems(texts, pairs, corpus=earlier_items(held.name),
                             minimums=held.minimums)
    assert not found, "\n".join(found)


def test_set_has_its_sizes_languages_and_a_sourced_majority(held: HeldOut, texts: list[Item],
                                                            pairs: list[Pair]) -> None:
    least_positives, least_negatives, least_spanish = held.minimums
    by = Counter((i.language, i.positive) for i in texts)
    assert by[("en", True)] + by[("es", True)] >= least_positives
    assert by[("en", False)] + by[("es", False)] >= least_negatives
    assert by[("es", True)] >= least_spanish and by[("es", False)] >= least_spanish
    low, high = held.english_share
    assert low <= (by[("en", True)] + by[("en", False)]) / len(texts) <= high
    assert {p.item.positive for p in pairs} == {True, False}
    assert {p.item.language for p in pairs} == {"en", "es"}
    kinds = Counter(i.kind for i in texts + [p.item for p in pairs])
    assert kinds["verbatim"] + kinds["adapted"] > kinds["authored"]


def test_split_is_a_fixed_hash_of_the_text_about_40_percent_dev(texts: list[Item],
                                                                pairs: list[Pair]) -> None:
    assert split_of("i want to die") == split_of("  I want to DIE.  ")
    assert split_of("me quiero morir") == split_of("  Me quiero MORÍR.  ")
    dev = len(in_split(texts, "dev")) / len(texts)
    assert 0.33 <= dev <= 0.47
    assert {split_of(i.text) for i in texts} == {"dev", "test"}
    assert all(split_of(pair_key(p)) in ("dev", "test") for p in pairs)
    assert pair_key(pairs[0]) == f"{pairs[0].previous}\n{pairs[0].item.text}"


def test_every_source_and_item_is_cited_in_sources_md(held: HeldOut, texts: list[Item],
                                                      pairs: list[Pair]) -> None:
    listed = (SETS[held.name] / "SOURCES.md").read_text(encoding="utf-8")
    every = texts + [p.item for p in pairs]
    missing = sorted({i.source for i in every if i.source != "authored"
                      and f"`{i.source}`" not in listed})
    assert not missing, f"{held.name}/SOURCES.md does not list:\n" + "\n".join(missing)
    if held.cites_every_item:
        lines = set(listed.splitlines())
        uncited = [row for row in citation_rows(texts, pairs) if row not in lines]
        assert not uncited, (f"{held.name}/SOURCES.md has no row for {len(uncited)} items "
                             "(file, text, kind, source); add them:\n" + "\n".join(uncited))


@pytest.mark.parametrize("name", NAMES[1:])
def test_later_sets_cite_no_source_of_an_earlier_set(name: str) -> None:
    items = load_texts(SETS[name]) + [p.item for p in load_pairs(SETS[name])]
    earlier = {i.source for i in earlier_items(name)}
    shared = sorted({i.source for i in items} & earlier - {"authored"})
    assert not shared, f"{name} must use other sources; it shares:\n" + "\n".join(shared)


def summary(figures: Figures) -> str:
    """Return the four figures as one line (never the texts)."""
    return (f"recall en {figures.recall('en'):.3f}, es {figures.recall('es'):.3f}; "
            f"crisis-tier false alarms {figures.crisis_false_alarms():.3f}; "
            f"idioms flagged {figures.idioms_flagged():.3f}")


def test_screen_keeps_its_floors_on_the_test_split(held: HeldOut, texts: list[Item],
                                                   pairs: list[Pair]) -> None:
    matcher, report = load_safety(SHIPPED)
    assert matcher is not None, report.problems
    figures, _ = measure_split(matcher_screen(matcher), "test", texts, pairs)
    assert len(figures.tiers) >= held.least_test_items
    alarms, idioms = figures.crisis_false_alarms(), figures.idioms_flagged()
    # sentences only: the test split's texts stay unprinted
    fell = [f"recall ({language}) {figures.recall(language):.3f} < {floor}"
            for language, floor in held.recall_floor.items()
            if figures.recall(language) < floor]
    fell += [f"crisis-tier false alarms {alarms:.3f} > {held.max_false_alarms}"] * (
        alarms > held.max_false_alarms)
    fell += [f"idioms flagged {idioms:.3f} > {held.max_idioms}"] * (idioms > held.max_idioms)
    assert not fell, (
        f"the shipped screen fell below its floors on the {held.name} TEST split: "
        + "; ".join(fell) + f" ({summary(figures)}). Improve the screen by family from "
        "the DEV splits (benchmarks/safety_heldout.py --missed); do not read the test "
        "split's misses.")


def test_the_rules_alone_keep_their_floors_on_the_test_split(held: HeldOut, texts: list[Item],
                                                             pairs: list[Pair]) -> None:
    # the sixth pass's sayings once hid a positive from the rules that the layer still caught
    matcher, report = load_safety(SHIPPED)
    assert matcher is not None, report.problems
    rules = dataclasses.replace(matcher, learned_layer=False)
    figures, _ = measure_split(matcher_screen(rules), "test", texts, pairs)
    fell = [f"rules-alone recall ({language}) {figures.recall(language):.3f} < {floor}"
            for language, floor in held.rules_floor.items()
            if figures.recall(language) < floor]
    assert not fell, f"{held.name} TEST split: " + "; ".join(fell)  # texts unprinted


def test_benchmark_prints_both_splits_and_lists_only_dev_misses(held: HeldOut,
                                                                 texts: list[Item]) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "safety_heldout.py"),
                           "--root", str(ROOT), "--set", held.name, "--missed"],
                          capture_output=True, text=True, timeout=120, check=True)
    out = done.stdout
    assert f"held-out set {held.name}: {len(texts)} texts" in out
    assert "== dev split:" in out and "== test split:" in out
    assert out.count("recall en:") == 2 and out.count("idioms flagged (either tier):") == 2
    listed, after_dev = out.split("== test split:")
    assert "MISSED (" in listed and "MISSED (" not in after_dev
    printed = out.casefold()
    assert not [t for t in (normalized(i.text) for i in in_split(texts, "test"))
                if len(t) > 25 and t in printed]
