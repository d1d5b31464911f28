"""The safety screen on the held-out set: recall and false alarms per family, dev and test.

Run: .venv/bin/python benchmarks/safety_heldout.py [--root DIR] [--split dev|test|both]
     [--missed] [--set heldout|heldout2|heldout3|heldout4]

Data: tests/safety/heldout/ (SOURCES.md there says where each item comes from
and how the dev/test split is made), texts the screen was not tuned on; with
--set heldout2, heldout3 or heldout4, the later held-out sets in
tests/safety/heldout2/, heldout3/ and heldout4/, written blind by other authors from other
sources (each README.md has its first-run figures). The
screen is the one in DIR (default: this checkout): DIR/bot/flows/safety*.py
loading DIR/flows/safety.yaml through load_safety, the same code as the
webhook; pairs are screened with the previous text joined, as the webhook
does. For each split it prints, per language and family, the share caught
(positives, either tier; the crisis tier alone beside it) or flagged (hard
negatives: crisis tier, and either tier), then the headline figures against
issue 10's thresholds: recall >= 0.95 EN and >= 0.90 ES, crisis-tier false
alarms <= 5 % of hard negatives, idioms flagged <= 2 %. --missed lists the
missed and flagged texts of the DEV split only: the test split's misses are
not printed, so they cannot be tuned against. No services needed.

Measure another branch's screen without checking it out here:
    git -C /work/main worktree add --detach /tmp/screen-head safety-screen
    .venv/bin/python benchmarks/safety_heldout.py --root /tmp/screen-head
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The held-out loader comes from this checkout; the screen from --root (imported after).
from tests.safety.corpus import (  # noqa: E402
    MAX_CRISIS_FALSE_ALARMS,
    MAX_IDIOMS_FLAGGED,
    MIN_RECALL,
    Figures,
    Item,
)
from tests.safety.heldout_set import (  # noqa: E402
    SETS,
    PairScreen,
    load_pairs,
    load_texts,
    matcher_screen,
    measure_split,
)


def load_screen(root: Path) -> PairScreen:
    """Import the screen code of `root` and load its flows/safety.yaml."""
    sys.path.insert(0, str(root))
    for name in [n for n in sys.modules if n == "bot" or n.startswith("bot.")]:
        del sys.modules[name]
    safety = importlib.import_module("bot.flows.safety")
    matcher, report = safety.load_safety(root / "flows" / "safety.yaml")
    if matcher is None:
        raise SystemExit("\n".join(str(p) for p in report.problems))
    return matcher_screen(matcher)


def verdict(ok: bool) -> str:
    """Say whether a figure holds its threshold."""
    return "met" if ok else "MISSED"


def families(figures: Figures) -> None:
    """Print the rate of every language and family beside its threshold."""
    grouped: dict[tuple[str, bool, str], list[Item]] = defaultdict(list)
    for item in figures.tiers:
        family = "pairs/" + item.family if item.file == "pairs.yaml" else item.family
        grouped[(item.language, item.positive, family)].append(item)
    print(f"   {'language/family':30} {'n':>4}  {'caught':>7} {'crisis':>7}  {'threshold':>11}")
    for language, positive, family in sorted(grouped, key=lambda k: (k[0], not k[1], k[2])):
        items = grouped[(language, positive, family)]
        name = f"{language}/{family}"
        crisis = figures.rate(items, ("crisis",))
        either = figures.rate(items, ("crisis", "concern"))
        if positive:
            least = MIN_RECALL[language]
            print(f"   {name:30} {len(items):4}  {either:7.1%} {crisis:7.1%}  >= {least:7.0%}"
                  f"  {verdict(either >= least)}")
        else:
            limit, figure = ((MAX_IDIOMS_FLAGGED, either) if family.endswith("idiom")
                             else (MAX_CRISIS_FALSE_ALARMS, crisis))
            print(f"   {name:30} {len(items):4}  {either:7.1%} {crisis:7.1%}  <= {limit:7.0%}"
                  f"  {verdict(figure <= limit)}")


def headline(figures: Figures, pairs: Figures) -> None:
    """Print the four figures the held-out test holds, and the pairs' recall."""
    for language, least in MIN_RECALL.items():
        got = figures.recall(language)
        print(f"   recall {language}: {got:.3f} (>= {least}: {verdict(got >= least)})")
    alarms, idioms = figures.crisis_false_alarms(), figures.idioms_flagged()
    print(f"   crisis-tier false alarms on hard negatives: {alarms:.3f} "
          f"(<= {MAX_CRISIS_FALSE_ALARMS}: {verdict(alarms <= MAX_CRISIS_FALSE_ALARMS)})")
    print(f"   idioms flagged (either tier): {idioms:.3f} "
          f"(<= {MAX_IDIOMS_FLAGGED}: {verdict(idioms <= MAX_IDIOMS_FLAGGED)})")
    positives = [i for i in pairs.tiers if i.positive]
    print(f"   pairs (joined): {pairs.rate(positives, ('crisis', 'concern')):.3f} of "
          f"{len(positives)} positive pairs caught, "
          f"{pairs.rate([i for i in pairs.tiers if not i.positive], ('crisis', 'concern')):.3f}"
          f" of {len(pairs.tiers) - len(positives)} negative pairs flagged")


def main() -> None:
    """Measure the screen of --root on the held-out dev and test splits."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="checkout whose bot/flows/safety*.py and flows/safety.yaml to measure")
    parser.add_argument("--split", choices=("dev", "test", "both"), default="both")
    parser.add_argument("--missed", action="store_true",
                        help="list the dev split's missed and flagged texts")
    parser.add_argument("--set", choices=sorted(SETS), default="heldout",
                        help="which held-out set to measure (default: heldout)")
    args = parser.parse_args()
    items, pairs = load_texts(SETS[args.set]), load_pairs(SETS[args.set])
    screen = load_screen(args.root.resolve())
    print(f"held-out set {args.set}: {len(items)} texts and {len(pairs)} pairs; "
          f"screen from {args.root}")
    for split in ("dev", "test") if args.split == "both" else (args.split,):
        figures, joined = measure_split(screen, split, items, pairs)
        print(f"\n== {split} split: {len(figures.tiers)} items ==")
        families(figures)
        print(f"\n   headline figures ({split}):")
        headline(figures, joined)
        if args.missed and split == "dev":
            print(figures.report())


if __name__ == "__main__":
    main()
