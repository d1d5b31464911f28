"""Load the ordinary held-out texts (tests/safety/ordinary/holdout.yaml) and measure raises.

Rules: every text there is ordinary program traffic (label none), authored
before any model scored it (ordinary/README.md). It is for measurement only:
no training or threshold choice may read it. A raise is a verdict of concern
or crisis; the rules' raises and the learned layer's (family `learned_layer`)
are counted apart, since each is its own owner's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from bot.flows.safety import SafetyMatcher, Tier

ORDINARY_FILE = Path(__file__).resolve().parent / "ordinary" / "holdout.yaml"


@dataclass(frozen=True)
class Ordinary:
    """One ordinary text and its language."""

    text: str
    language: str


@dataclass(frozen=True)
class Raises:
    """How many ordinary texts the rules, and the learned layer, raised (of `total`)."""

    total: int
    by_rules: int
    by_layer: int

    def rate(self, count: int) -> float:
        """Return `count` as a share of the texts."""
        return count / self.total if self.total else 0.0


def load_ordinary(path: Path = ORDINARY_FILE) -> list[Ordinary]:
    """Return the ordinary held-out texts."""
    doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return [Ordinary(str(text), str(group["language"]))
            for group in doc["groups"] for text in group["items"]]


def raises(matcher: SafetyMatcher, texts: list[Ordinary]) -> Raises:
    """Return the raises of `matcher` on `texts`, the rules' and the layer's apart."""
    by_rules = by_layer = 0
    for item in texts:
        verdict = matcher.screen(item.text)
        if verdict.tier is Tier.NONE:
            continue
        if verdict.family == "learned_layer":
            by_layer += 1
        else:
            by_rules += 1
    return Raises(len(texts), by_rules, by_layer)
