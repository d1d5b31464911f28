"""The safety screen on the labelled corpus: figures per family and microseconds per text.

Run: .venv/bin/python benchmarks/safety_screen.py [--rounds 5] [--since COMMIT]

Data: the corpus in tests/safety/ (SOURCES.md says where each item comes from),
screened by the configured screen, flows/safety.yaml through load_safety, the
same code as the webhook. For each language and family it prints the share
caught (positives: crisis or concern; the "crisis" column is the crisis tier
alone) or the share flagged (hard negatives: crisis tier, and either tier),
beside the threshold the corpus test holds. Speed: every text is screened
`rounds` times, each call timed on its own; median and p99 microseconds, of wall
clock and of this thread's CPU time (on a shared machine the wall clock's p99
is mostly time the thread was not running).
Baselines, measured in the same run: the thresholds for the rates, and for
speed the cheapest possible screen (lower-case the text, then a substring
test against a plain phrase list); and the rules alone (the same screen with
`learned_layer=False`) and the learned layer's score alone
(bot.flows.safety_model, which runs only where the rules say none). No services
needed.

--since COMMIT measures only the items added to the corpus after COMMIT (read
with git): when a screen was tuned on the corpus as it stood at COMMIT, only
the later items still measure it independently.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable

from harness import ROOT, machine_note

from bot.flows.safety import load_safety
from bot.flows.safety_model import load_model
from tests.safety.corpus import (
    MAX_CRISIS_FALSE_ALARMS,
    MAX_IDIOMS_FLAGGED,
    MIN_RECALL,
    Figures,
    Item,
    load_corpus,
    measure,
    normalized,
    parse,
)
from tests.test_safety_corpus import tier_function

PLAIN_PHRASES = ("want to die", "wanna die", "kill myself", "end my life", "better off dead",
                 "no reason to live", "suicide", "suicidal", "end it all", "me quiero morir",
                 "quiero morir", "matarme", "suicidarme")


def added_since(commit: str, items: list[Item]) -> list[Item]:
    """Return the items whose text was not in the corpus at `commit`."""
    folder = "tests/safety/"
    names = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", commit, folder],
                           check=True, capture_output=True, text=True).stdout.split()
    seen = {normalized(item.text) for name in names if name.endswith(".yaml")
            for item in parse(subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{name}"],
                                             check=True, capture_output=True,
                                             text=True).stdout, name)}
    return [item for item in items if normalized(item.text) not in seen]


def cheapest(text: str) -> str:
    """Screen `text` the cheapest possible way: lower-case, then substrings."""
    lowered = text.lower()
    return "crisis" if any(phrase in lowered for phrase in PLAIN_PHRASES) else "none"


def microseconds(screen: Callable[[str], object], texts: list[str], rounds: int,
                 clock: Callable[[], int] = time.perf_counter_ns) -> list[float]:
    """Return the time of every call of `screen` on every text, `rounds` times, in µs."""
    times: list[float] = []
    for _ in range(rounds):
        for text in texts:
            started = clock()
            screen(text)
            times.append((clock() - started) / 1000)
    return times


def percentile(values: list[float], share: float) -> float:
    """Return the `share` percentile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def verdict(ok: bool) -> str:
    """Say whether a figure holds its threshold."""
    return "met" if ok else "MISSED"


def families(figures: Figures, cheap: Figures) -> None:
    """Print the rate of every language and family, with the threshold and the cheap screen's."""
    grouped: dict[tuple[str, bool, str], list[Item]] = defaultdict(list)
    for item in figures.tiers:
        grouped[(item.language, item.positive, item.family)].append(item)
    print(f"\n   {'language/family':28} {'n':>4}  {'caught':>7} {'crisis':>7}  "
          f"{'threshold':>11}  {'cheapest':>8}")
    order = sorted(grouped, key=lambda key: (key[0], not key[1], key[2]))
    for language, positive, family in order:
        items = grouped[(language, positive, family)]
        name = f"{language}/{family}"
        if positive:
            caught = figures.rate(items, ("crisis", "concern"))
            least = MIN_RECALL[language]
            crisis = figures.rate(items, ("crisis",))
            print(f"   {name:28} {len(items):4}  {caught:7.1%} {crisis:7.1%}  >= {least:7.0%}"
                  f"  {cheap.rate(items, ('crisis',)):8.1%}  {verdict(caught >= least)}")
        else:
            crisis = figures.rate(items, ("crisis",))
            either = figures.rate(items, ("crisis", "concern"))
            limit, figure = ((MAX_IDIOMS_FLAGGED, either) if family == "idiom"
                             else (MAX_CRISIS_FALSE_ALARMS, crisis))
            print(f"   {name:28} {len(items):4}  {either:7.1%} {crisis:7.1%}  <= {limit:7.0%}"
                  f"  {cheap.rate(items, ('crisis',)):8.1%}  {verdict(figure <= limit)}")


def main() -> None:
    """Measure the configured screen on the corpus and print the figures and timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--since", metavar="COMMIT",
                        help="measure only the items added to the corpus after COMMIT")
    args = parser.parse_args()
    matcher, report = load_safety(ROOT / "flows" / "safety.yaml")
    if matcher is None:
        raise SystemExit("\n".join(str(p) for p in report.problems))
    screen = tier_function(matcher)
    items = load_corpus()
    if args.since:
        items = added_since(args.since, items)
        print(f"only the {len(items)} items added to the corpus after {args.since}")
    api = "screen (two tiers)" if hasattr(matcher, "screen") else "match (crisis or none)"
    print(f"safety screen on {len(items)} corpus texts via {api}; {machine_note()}")
    figures, cheap = measure(screen, items), measure(cheapest, items)
    families(figures, cheap)
    print("\n   headline figures (the corpus test holds these):")
    for language, least in MIN_RECALL.items():
        if not any(item.positive and item.language == language for item in items):
            print(f"   recall {language}: no {language} positives among these items")
            continue
        got = figures.recall(language)
        print(f"   recall {language}: {got:.3f} (>= {least}: {verdict(got >= least)}; "
              f"cheapest screen {cheap.recall(language):.3f})")
    alarms = figures.crisis_false_alarms()
    print(f"   crisis-tier false alarms: {alarms:.3f} (<= {MAX_CRISIS_FALSE_ALARMS}: "
          f"{verdict(alarms <= MAX_CRISIS_FALSE_ALARMS)}; cheapest screen "
          f"{cheap.crisis_false_alarms():.3f})")
    idioms = figures.idioms_flagged()
    print(f"   idioms flagged: {idioms:.3f} (<= {MAX_IDIOMS_FLAGGED}: "
          f"{verdict(idioms <= MAX_IDIOMS_FLAGGED)}; cheapest screen "
          f"{cheap.idioms_flagged():.3f})")
    texts = [item.text for item in items]
    timed = microseconds(screen, texts, args.rounds)
    cpu = microseconds(screen, texts, args.rounds, time.thread_time_ns)
    base = microseconds(cheapest, texts, args.rounds)
    rules = microseconds(tier_function(dataclasses.replace(matcher, learned_layer=False)),
                         texts, args.rounds, time.thread_time_ns)
    model = load_model()
    scored = microseconds(model.score, texts, args.rounds, time.thread_time_ns) if model else []
    longest = (" ".join(texts) * 2)[:1600]  # an SMS's longest body
    long_rules = microseconds(tier_function(dataclasses.replace(matcher, learned_layer=False)),
                              [longest], 50, time.thread_time_ns)
    long_scored = microseconds(model.score, [longest], 50, time.thread_time_ns) if model else []
    print(f"\n   µs per text, {len(texts)} texts x {args.rounds} rounds:")
    print(f"   screen:   median {statistics.median(timed):8.1f}  p99 {percentile(timed, 0.99):8.1f}"
          f"  max {max(timed):9.1f}  (wall clock)")
    print(f"   screen:   median {statistics.median(cpu):8.1f}  p99 {percentile(cpu, 0.99):8.1f}"
          f"  max {max(cpu):9.1f}  (CPU time of this thread)")
    print(f"   rules alone: median {statistics.median(rules):6.1f}  p99 "
          f"{percentile(rules, 0.99):8.1f}  (CPU; learned_layer=False)")
    if scored:
        print(f"   learned layer's score alone: median {statistics.median(scored):6.1f}  p99 "
              f"{percentile(scored, 0.99):8.1f}  (CPU)")
        print(f"   one 1,600-character text, median of 50 (CPU): rules "
              f"{statistics.median(long_rules):.1f}, learned layer "
              f"{statistics.median(long_scored):.1f}")
    print(f"   baseline, lower-case + substring over {len(PLAIN_PHRASES)} phrases: median "
          f"{statistics.median(base):6.1f}  p99 {percentile(base, 0.99):8.1f}")


if __name__ == "__main__":
    main()
