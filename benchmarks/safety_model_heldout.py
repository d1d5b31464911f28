"""The rules alone against the rules plus the learned layer, on the held-out sets and the corpus.

Run: .venv/bin/python benchmarks/safety_model_heldout.py [--split dev|test|both]

Data: tests/safety/heldout*/ (texts and two-message pairs, split by the fixed
hash of tests/safety/heldout_set.py) and the tuning corpus tests/safety/*.yaml.
The screen is flows/safety.yaml through load_safety, as the webhook runs it,
once with `learned_layer=False` (the baseline, same run) and once as shipped
(the rules, then bot/flows/safety_model.bin where the rules say none). For each
set and split it prints recall per language (either tier), crisis-tier false
alarms on hard negatives, idioms flagged (either tier), and how many hard
negatives are asked the concern question; then the share of the ordinary
held-out texts (tests/safety/ordinary/) raised by the rules and by the layer.
Figures only: no text of any split is
printed. The model was trained on the corpus, mechanisms.tsv and the dev
splits, so only the test splits measure it on unseen text.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.flows.safety import SafetyMatcher, load_safety  # noqa: E402
from tests.safety.corpus import Figures, load_corpus  # noqa: E402
from tests.safety.heldout_set import (  # noqa: E402
    SETS,
    load_pairs,
    load_texts,
    matcher_screen,
    measure_split,
)
from tests.safety.ordinary_set import load_ordinary, raises  # noqa: E402


def line(name: str, figures: Figures) -> str:
    """Return one row of figures (never a text)."""
    negatives = [i for i in figures.tiers if not i.positive]
    asked = sum(figures.tiers[i] == "concern" for i in negatives)
    return (f"  {name:22} {figures.recall('en'):9.3f} {figures.recall('es'):9.3f} "
            f"{figures.crisis_false_alarms():9.3f} {figures.idioms_flagged():7.3f} "
            f"{asked:5d}/{len(negatives)}")


def main() -> None:
    """Print both screens' figures per held-out set and split, and on the corpus."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test", "both"), default="dev")
    args = parser.parse_args()
    shipped, report = load_safety(ROOT / "flows" / "safety.yaml")
    if shipped is None:
        raise SystemExit("\n".join(str(p) for p in report.problems))
    screens: dict[str, SafetyMatcher] = {
        "rules alone": dataclasses.replace(shipped, learned_layer=False),
        "rules + learned layer": dataclasses.replace(shipped, learned_layer=True)}
    header = (f"  {'screen':22} {'recall en':>9} {'recall es':>9} {'crisis FA':>9} "
              f"{'idioms':>7} {'asked':>11}")
    splits = ("dev", "test") if args.split == "both" else (args.split,)
    for name, folder in SETS.items():
        texts, pairs = load_texts(folder), load_pairs(folder)
        for split in splits:
            print(f"{name} {split} split:\n{header}")
            for label, matcher in screens.items():
                figures, _ = measure_split(matcher_screen(matcher), split, texts, pairs)
                print(line(label, figures))
    corpus = load_corpus()
    print(f"corpus ({len(corpus)} texts; trained on, so not a measure of unseen text):\n{header}")
    for label, matcher in screens.items():
        screen = matcher_screen(matcher)
        print(line(label, Figures(tiers={i: screen(i.text, None) for i in corpus})))
    ordinary = load_ordinary()
    print(f"ordinary held-out texts ({len(ordinary)}; never trained on): raised to concern "
          "or crisis")
    for label, matcher in screens.items():
        for language in ("all", "en", "es"):
            chosen = [o for o in ordinary if language in ("all", o.language)]
            got = raises(matcher, chosen)
            print(f"  {label:22} {language:3} by rules {got.by_rules:3d}/{got.total} "
                  f"({got.rate(got.by_rules):.3f}), by the layer {got.by_layer:3d}/{got.total} "
                  f"({got.rate(got.by_layer):.3f})")


if __name__ == "__main__":
    main()
