"""Load the held-out safety sets (tests/safety/heldout*/) and split them into dev and test.

Rules: each held-out set was written before its authors read the screen's rules,
from sources not cited by the tuning corpus (nor, for heldout2, heldout3 and heldout4,
by any earlier set); each folder's SOURCES.md says where its items come from.
Its single texts use the corpus's file format and loader (`corpus.parse`); the
two-message pairs (`pairs.yaml`: a previous text within 10 minutes and the
current one) have their own loader. Every item goes to `dev` (about 40 %) or
`test` by a fixed hash of its normalised text, so the split is reproducible and
does not move when items are added. `dev` may be read by whoever improves the
screen; `test` is for final figures only. No held-out text repeats a corpus text
(case, spacing, accents and closing punctuation ignored).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.safety.corpus import (
    CORPUS_DIR,
    Figures,
    Item,
    load_corpus,
    normalized,
    parse,
    problems,
)

HELDOUT_DIR = CORPUS_DIR / "heldout"
# The second held-out set, written blind by other authors from other sources (heldout2/SOURCES.md).
HELDOUT2_DIR = CORPUS_DIR / "heldout2"
# The third, written blind from sources neither earlier set cites (heldout3/SOURCES.md).
HELDOUT3_DIR = CORPUS_DIR / "heldout3"
# The fourth, written blind from sources no earlier set cites (heldout4/SOURCES.md).
HELDOUT4_DIR = CORPUS_DIR / "heldout4"
SETS = {"heldout": HELDOUT_DIR, "heldout2": HELDOUT2_DIR, "heldout3": HELDOUT3_DIR,
        "heldout4": HELDOUT4_DIR}
TEXT_FILES = ("en_positive.yaml", "en_negative.yaml", "es_positive.yaml", "es_negative.yaml")
PAIRS_FILE = "pairs.yaml"
SPLITS = ("dev", "test")
DEV_SHARE = 40  # percent
# The first held-out set's own minimums (issue 10 follow-up); each set's are in
# tests/test_safety_heldout.py.
MIN_POSITIVES, MIN_NEGATIVES, MIN_SPANISH_EACH = 300, 300, 80
# problems() also checks the tuning corpus's sizes; those lines do not apply here.
CORPUS_SIZE_LINE = re.compile(r"^\d+ (Spanish )?(positives|hard negatives|idioms), fewer than"
                              r"|^family \w+ has no items$")
# A screen as the webhook runs it: (current text, previous text or None) -> tier name.
PairScreen = Callable[[str, str | None], str]


@dataclass(frozen=True)
class Pair:
    """A previous text and the current one from the same number, labelled as one item."""

    previous: str
    item: Item


def folded(text: str) -> str:
    """Return `text` as the split and the overlap check see it: normalised, accents removed."""
    decomposed = unicodedata.normalize("NFKD", normalized(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def split_of(text: str) -> str:
    """Return "dev" or "test" for `text`, from a fixed hash of its folded form."""
    digest = hashlib.sha256(folded(text).encode("utf-8")).digest()
    return "dev" if int.from_bytes(digest[:4], "big") % 100 < DEV_SHARE else "test"


def load_texts(folder: Path = HELDOUT_DIR) -> list[Item]:
    """Return every single-text item of the held-out set, in file order."""
    return [item for name in TEXT_FILES
            for item in parse((folder / name).read_text(encoding="utf-8"), name)]


def load_pairs(folder: Path = HELDOUT_DIR) -> list[Pair]:
    """Return every two-message pair of the held-out set."""
    doc = YAML(typ="safe", pure=True).load((folder / PAIRS_FILE).read_text(encoding="utf-8"))
    return [Pair(previous=str(previous),
                 item=Item(text=str(current), label=str(group.get("label", "")),
                           family=str(group.get("family", "")),
                           language=str(group.get("language", "")),
                           source=str(group.get("source") or "").strip(),
                           kind=str(group.get("kind", "")), file=PAIRS_FILE))
            for group in (doc or {}).get("groups") or []
            for previous, current in group.get("pairs") or []]


def pair_key(pair: Pair) -> str:
    """Return the text a pair is split and de-duplicated by."""
    return f"{pair.previous}\n{pair.item.text}"


def citation_rows(items: list[Item], pairs: list[Pair]) -> list[str]:
    """Return one Markdown table row per item and pair: file, text, kind and source."""
    return ([f"| {i.file} | {i.text} | {i.kind} | {i.source} |" for i in items]
            + [f"| {PAIRS_FILE} | {p.previous} / {p.item.text} | {p.item.kind} | {p.item.source} |"
               for p in pairs])


def in_split(items: list[Item], split: str) -> list[Item]:
    """Return the items of `items` that fall in `split`."""
    return [item for item in items if split_of(item.text) == split]


def pairs_in_split(pairs: list[Pair], split: str) -> list[Pair]:
    """Return the pairs that fall in `split`."""
    return [pair for pair in pairs if split_of(pair_key(pair)) == split]


def heldout_problems(items: list[Item], pairs: list[Pair],
                     corpus: list[Item] | None = None,
                     minimums: tuple[int, int, int] = (MIN_POSITIVES, MIN_NEGATIVES,
                                                       MIN_SPANISH_EACH)) -> list[str]:
    """Return what is wrong with the held-out set, one line each (empty when well-formed).

    `corpus` is every text the set must not repeat (default: the tuning corpus);
    `minimums` are the least positives, hard negatives and Spanish items of each.
    """
    least_positives, least_negatives, least_spanish = minimums
    found = [line for line in problems(items + [p.item for p in pairs
                                                 if p.item.text not in {i.text for i in items}])
             if not CORPUS_SIZE_LINE.match(line) and "duplicates" not in line]
    seen: dict[str, Item] = {}
    for item in items:
        key = folded(item.text)
        if key in seen:
            found.append(f"{item.file}: {item.text!r} duplicates {seen[key].text!r}")
        seen.setdefault(key, item)
    tuned = {folded(i.text) for i in (load_corpus() if corpus is None else corpus)}
    found.extend(f"{i.file}: {i.text!r} is in the tuning corpus or an earlier held-out set; "
                 "a held-out text must be new" for i in items if folded(i.text) in tuned)
    keys = [pair_key(p) for p in pairs]
    found.extend(f"{PAIRS_FILE}: pair {k!r} appears twice" for k in set(keys)
                 if keys.count(k) > 1)
    for name, group, least in (("positives", [i for i in items if i.positive], least_positives),
                               ("hard negatives", [i for i in items if not i.positive],
                                least_negatives)):
        if len(group) < least:
            found.append(f"{len(group)} held-out {name}, fewer than {least}")
        spanish = sum(1 for i in group if i.language == "es")
        if spanish < least_spanish:
            found.append(f"{spanish} Spanish held-out {name}, fewer than {least_spanish}")
    every = items + [p.item for p in pairs]
    authored = sum(1 for i in every if i.kind == "authored")
    if authored * 2 >= len(every):
        found.append(f"{authored} of {len(every)} held-out items are authored")
    return found


def matcher_screen(matcher: Any) -> PairScreen:
    """Return a loaded safety matcher as (text, previous) -> "crisis" | "concern" | "none".

    Uses `screen(text, previous)` (two tiers, with the join) where the matcher has it;
    a matcher with only `match` is read as crisis-or-none on the two texts joined.
    """
    screen = getattr(matcher, "screen", None)
    if screen is not None:
        return lambda text, previous: str(screen(text, previous).tier.value)
    return lambda text, previous: ("crisis" if matcher.match(
        f"{previous} {text}".strip() if previous else text) is not None else "none")


def measure_split(screen: PairScreen, split: str, items: list[Item] | None = None,
                  pairs: list[Pair] | None = None) -> tuple[Figures, Figures]:
    """Return the figures of `split`: single texts and pairs together, and pairs alone."""
    chosen = in_split(load_texts() if items is None else items, split)
    joined = pairs_in_split(load_pairs() if pairs is None else pairs, split)
    pair_tiers = {p.item: screen(p.item.text, p.previous) for p in joined}
    tiers = {item: screen(item.text, None) for item in chosen}
    tiers.update(pair_tiers)
    return Figures(tiers=tiers), Figures(tiers=pair_tiers)
