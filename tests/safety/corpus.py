"""Load the labelled safety corpus and measure a screen against it.

Rules: the corpus is the YAML files beside this module, one per language and
polarity (`en_positive.yaml`, `es_negative.yaml`, ...); each file has a
`language` and `groups`, and each group a `source`, a `kind` (verbatim,
adapted or authored), a `label` (crisis, concern or none), a `family` and its
`items` (texts). SOURCES.md says where every source came from and how items
are labelled. A screen is measured as a function from a text to a tier name
("crisis", "concern" or "none"): recall counts a positive as caught at either
tier; a false alarm on a hard negative is the crisis tier; an idiom counts as
flagged at either tier.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

CORPUS_DIR = Path(__file__).resolve().parent
LANGUAGES = ("en", "es")
LABELS = ("crisis", "concern", "none")
KINDS = ("verbatim", "adapted", "authored")
POSITIVE_FAMILIES = (
    "direct_intent", "wish_to_die", "passive_wish", "overdose", "firearm", "hanging", "jumping",
    "self_harm", "preparation", "burden", "hopelessness", "past_attempt", "slang",
    "obfuscation", "texting",
)
NEGATIVE_FAMILIES = (
    "idiom", "pain", "medication", "hunting_guns", "grief_others", "prevention_talk",
    "sleep_tired",
)
# The figures the screen must hold (issue 10, SPEC 10).
MIN_RECALL = {"en": 0.95, "es": 0.90}
MAX_CRISIS_FALSE_ALARMS = 0.05
MAX_IDIOMS_FLAGGED = 0.02
# The corpus's own minimums.
MIN_POSITIVES, MIN_NEGATIVES, MIN_SPANISH_EACH, MIN_IDIOMS = 500, 500, 60, 150

Screen = Callable[[str], str]


@dataclass(frozen=True)
class Item:
    """One labelled text and where it came from."""

    text: str
    label: str
    family: str
    language: str
    source: str
    kind: str
    file: str

    @property
    def positive(self) -> bool:
        """Tell whether the item should be caught (crisis or concern)."""
        return self.label != "none"


def load_corpus(folder: Path = CORPUS_DIR) -> list[Item]:
    """Return every item of every corpus file in `folder`, in file order."""
    return [item for path in sorted(folder.glob("*.yaml"))
            for item in parse(path.read_text(encoding="utf-8"), path.name)]


def parse(text: str, name: str) -> list[Item]:
    """Return the items of one corpus file's `text` (its file `name` is kept on each item)."""
    doc = YAML(typ="safe", pure=True).load(text) or {}
    language = str(doc.get("language", ""))
    return [Item(text=str(entry), label=str(group.get("label", "")),
                 family=str(group.get("family", "")), language=language,
                 source=str(group.get("source") or "").strip(),
                 kind=str(group.get("kind", "")), file=name)
            for group in doc.get("groups") or [] for entry in group.get("items") or []]


def normalized(text: str) -> str:
    """Return `text` as the duplicate check sees it: case and spacing folded."""
    return re.sub(r"\s+", " ", text.casefold()).strip().rstrip(".!?")


def problems(items: list[Item]) -> list[str]:
    """Return what is wrong with the corpus itself, one line each (empty when well-formed)."""
    found: list[str] = []
    seen: dict[str, Item] = {}
    for item in items:
        where = f"{item.file}: {item.text!r}"
        if not item.text.strip():
            found.append(f"{item.file}: an empty text")
        if item.label not in LABELS:
            found.append(f"{where}: label {item.label!r} is not one of {LABELS}")
        families = POSITIVE_FAMILIES if item.positive else NEGATIVE_FAMILIES
        if item.family not in families:
            found.append(f"{where}: family {item.family!r} is not a "
                         f"{'positive' if item.positive else 'negative'} family")
        if item.language not in LANGUAGES:
            found.append(f"{where}: language {item.language!r} is not one of {LANGUAGES}")
        if item.kind not in KINDS:
            found.append(f"{where}: kind {item.kind!r} is not one of {KINDS}")
        if not item.source:
            found.append(f"{where}: no source")
        elif (item.kind == "authored") != (item.source == "authored"):
            found.append(f"{where}: 'source: authored' goes with 'kind: authored', and only so")
        elif item.source != "authored" and not item.source.startswith(("github:", "http")):
            found.append(f"{where}: source {item.source!r} is neither github:owner/repo/path "
                         "nor a URL")
        key = normalized(item.text)
        if key in seen:
            found.append(f"{where}: duplicates {seen[key].text!r} in {seen[key].file}")
        seen.setdefault(key, item)
    positives = [i for i in items if i.positive]
    negatives = [i for i in items if not i.positive]
    for name, group, least in (("positives", positives, MIN_POSITIVES),
                               ("hard negatives", negatives, MIN_NEGATIVES)):
        if len(group) < least:
            found.append(f"{len(group)} {name}, fewer than {least}")
        spanish = sum(1 for i in group if i.language == "es")
        if spanish < MIN_SPANISH_EACH:
            found.append(f"{spanish} Spanish {name}, fewer than {MIN_SPANISH_EACH}")
    idioms = sum(1 for i in negatives if i.family == "idiom")
    if idioms < MIN_IDIOMS:
        found.append(f"{idioms} idioms, fewer than {MIN_IDIOMS}")
    for family in POSITIVE_FAMILIES + NEGATIVE_FAMILIES:
        if not any(i.family == family for i in items):
            found.append(f"family {family} has no items")
    authored = sum(1 for i in items if i.kind == "authored")
    if authored * 2 >= len(items):
        found.append(f"{authored} of {len(items)} items are authored; they must stay a minority")
    return found


@dataclass(frozen=True)
class Figures:
    """What a screen did on the corpus: tiers per item and the headline rates."""

    tiers: dict[Item, str]

    def rate(self, items: Iterable[Item], tiers: tuple[str, ...]) -> float:
        """Return the share of `items` the screen put in one of `tiers` (0 when none)."""
        chosen = list(items)
        return sum(self.tiers[i] in tiers for i in chosen) / len(chosen) if chosen else 0.0

    def recall(self, language: str) -> float:
        """Return the share of `language` positives caught at either tier."""
        return self.rate((i for i in self.tiers if i.positive and i.language == language),
                         ("crisis", "concern"))

    def crisis_false_alarms(self) -> float:
        """Return the share of hard negatives given the crisis tier."""
        return self.rate((i for i in self.tiers if not i.positive), ("crisis",))

    def idioms_flagged(self) -> float:
        """Return the share of idioms given either tier."""
        return self.rate((i for i in self.tiers if i.family == "idiom"), ("crisis", "concern"))

    def missed(self) -> list[Item]:
        """Return the positives the screen let through."""
        return [i for i, tier in self.tiers.items() if i.positive and tier == "none"]

    def false_alarms(self) -> list[Item]:
        """Return the negatives given the crisis tier, and idioms given either tier."""
        return [i for i, tier in self.tiers.items() if not i.positive
                and (tier == "crisis" or (i.family == "idiom" and tier != "none"))]

    def failures(self) -> list[str]:
        """Return each figure that misses its threshold, as a sentence."""
        out = [f"recall ({language}) {self.recall(language):.3f} < {least}"
               for language, least in MIN_RECALL.items() if self.recall(language) < least]
        if self.crisis_false_alarms() > MAX_CRISIS_FALSE_ALARMS:
            out.append(f"crisis-tier false alarms {self.crisis_false_alarms():.3f} > "
                       f"{MAX_CRISIS_FALSE_ALARMS}")
        if self.idioms_flagged() > MAX_IDIOMS_FLAGGED:
            out.append(f"idioms flagged {self.idioms_flagged():.3f} > {MAX_IDIOMS_FLAGGED}")
        return out

    def report(self) -> str:
        """Describe the failures, then the missed and false-alarm items by family."""
        lines = list(self.failures())
        for title, chosen in (("MISSED (crisis or concern texts let through)", self.missed()),
                              ("FALSE ALARMS (hard negatives given the crisis tier, idioms "
                               "either tier)", self.false_alarms())):
            grouped: dict[str, list[Item]] = defaultdict(list)
            for item in chosen:
                grouped[f"{item.language}/{item.family}"].append(item)
            lines.append(f"\n{title}: {len(chosen)}")
            for key in sorted(grouped):
                lines.append(f"  {key} ({len(grouped[key])}):")
                lines.extend(f"    [{self.tiers[i]}] {i.text}" for i in grouped[key])
        return "\n".join(lines)


def measure(screen: Screen, items: list[Item]) -> Figures:
    """Run `screen` on every item."""
    return Figures(tiers={item: screen(item.text) for item in items})


def counts(items: list[Item]) -> dict[str, Counter[str]]:
    """Count items by polarity and language, by family and by source kind."""
    return {
        "polarity/language": Counter(f"{'positive' if i.positive else 'negative'}/{i.language}"
                                     for i in items),
        "family": Counter(f"{i.language}/{i.family}" for i in items),
        "kind": Counter(i.kind for i in items),
        "label": Counter(i.label for i in items),
    }


def main() -> None:
    """Print the corpus's counts: by polarity and language, family, kind, label and source."""
    items = load_corpus()
    print(f"{len(items)} items")
    for name, counter in counts(items).items():
        print(f"\n{name}:")
        for key, number in sorted(counter.items()):
            print(f"  {key:32} {number:4}")
    print("\nsource:")
    for source, number in Counter(i.source for i in items).most_common():
        print(f"  {number:4}  {source}")


if __name__ == "__main__":
    main()
