"""Decide a screened text's tier from the rule matches found in it (SPEC §10).

Rules:
- The highest tier wins; among rules of one tier, the first in the file.
- A match lying wholly inside a `none` family's saying does not count; a
  crisis match lying wholly inside a `context` concern family's match counts
  as concern; a match lying wholly inside the previous text does not count.
- A crisis match right after the writer's own negation ("I would never
  shoot myself", "no me voy a matar", "no me quiero morir, solo estoy
  cansado") counts as concern: a denial still gets the direct question,
  never silence. A Spanish "no" before a wish makes the wish ("ya no me
  quiero despertar") and counts only before an act or "morir", with no
  comma or stop after it ("no, me quiero matar" answers and then says it).
- A crisis match ending right at a question mark that the writer answers
  with a plain no ("kill myself? no way, just tired", "me quemo con
  cigarros? no, ya deje de fumar") is the writer repeating a question and
  denying it: concern. A question without such an answer ("should I kill
  myself?"), an answer that is not a no ("kill myself? no one would care",
  "no, I'm serious") or crisis words elsewhere keep the crisis tier.
- Nothing here lowers a verdict to none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Tier(StrEnum):
    """How serious a text is: crisis, concern (indirect signs) or none."""

    CRISIS = "crisis"
    CONCERN = "concern"
    NONE = "none"


RANK = {Tier.NONE: 0, Tier.CONCERN: 1, Tier.CRISIS: 2}


@dataclass(frozen=True)
class Verdict:
    """The screen's answer: the tier, and the rule and family that decided it."""

    tier: Tier
    rule: str | None = None
    family: str | None = None


@dataclass(frozen=True)
class Family:
    """A group of rules with one tier, as listed in safety.yaml."""

    name: str
    tier: Tier
    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    context: bool = False

# A question the writer answers no: "?" then a plain no, then the end, a stop, or a word
# that goes on with the denial ("no way", "nah im good", "no manches"); never "no one",
# "no more", "no point", and never a no followed by "serious", "joke" or "kidding".
QUESTION_DENIED = re.compile(
    r"\?[?!.\s]*(?:no+|nah+|naw|nope|never|nunca|jamas|hell no|heck no|of course not|not really"
    r"|not at all|claro que no|para nada|que va|ni loco|ni loca|nel)"
    r"(?=\s*(?:$|[,.!;:)]|\s(?:way|lol|lmao|haha|jaja\w*|jk|man|bro|dude|just|only|solo|nomas"
    r"|manches|mames|i|im|ya|estoy|not|thanks|gracias|no|nah|nope|jamas|nunca|never)\b))"
    r"(?![^?]{0,40}\b(?:serious|seriously|joke|joking|kidding|lie|lying|broma|serio|neta)\b)")

# A Spanish denial written as one phrase, no comma or stop after the "no": "no me voy a
# matar", "no quiero morir"; "no, me quiero matar" answers a question and then says it.
SPANISH_DENIAL = re.compile(
    r"\bno (?:me |te |lo )?(?:(?:voy|boy|vo) a |(?:quiero|kiero|qiero|quisiera|pienso|deseo"
    r"|planeo|tengo ganas de|tengo planes de) |(?:lo )?(?:voy|boy) a )?(?:me )?"
    r"(?:mat|suicid|quit|dispar|ahorc|colg|tir|cort|lastim|dan|avent|lanz|envenen|mori|muer)")


def _inside(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    """Tell whether the span lies wholly inside one of `spans`."""
    return any(low <= start and end <= high for low, high in spans)


# A crisis match right after a negation ("I would never shoot myself", "not going
# to end it", "no me voy a matar") counts as concern: a denial still gets the
# direct question, never silence. Only a few helper words may stand between.
_NEGATORS = frozenset({"not", "never", "no", "nunca", "jamas"})
_BETWEEN = frozenset({"going", "to", "ever", "be", "been", "about", "planning", "plan",
                      "trying", "want", "wanting", "voy", "a", "pienso", "quiero", "me", "lo"})


# "can not kill myself" is a failed attempt and "you are not going to talk me out of
# it" is someone else's "not": neither is the writer's denial.
_NOT_A_DENIAL = frozenset({"can", "could", "are", "is", "you", "your", "they", "he", "she", "we",
                           "it"})
# Spanish "no" denies only an act ("no me voy a matar"); before a wish it makes one
# ("no me quiero despertar"), so it counts only before these verbs.
_SPANISH_ACTS = ("mat", "suicid", "quit", "dispar", "ahorc", "colg", "tir", "cort", "lastim",
                 "dan", "avent", "lanz", "envenen")
_SPANISH_DYING = ("mori", "muer")  # "no quiero morir" denies; "no quiero despertar" wishes


def negated(words: Sequence[str], start: int, end: int, spanish_denial: bool = False) -> bool:
    """Tell whether words[start:end] follows the writer's negation and holds none itself.

    `spanish_denial`: the text holds a SPANISH_DENIAL (a Spanish "no" counts only then).
    """
    match = words[start:end]
    if any(word in _NEGATORS for word in match):
        return False  # "want to never wake up": the match carries its own negation
    for back in range(start - 1, max(start - 4, -1), -1):
        word = words[back]
        if word in _NEGATORS:
            if back and words[back - 1] in _NOT_A_DENIAL:
                return False
            if word == "no":  # "no plan to end my life"; "no me voy a matar"
                return words[back + 1] in ("plan", "plans", "intention", "desire") or (
                    spanish_denial and any(w.startswith(_SPANISH_ACTS + _SPANISH_DYING)
                                           for w in match))
            return True
        if word not in _BETWEEN:
            return False
    return False


def decide(hits: list[tuple[int, Family, str, int, int]], boundary: int,
           words: Sequence[str] = (), answered: frozenset[int] = frozenset(),
           spanish_denial: bool = False) -> Verdict:
    """Return the verdict on a text's matches (see the module rules).

    `answered`: word indices where a question the writer answers no ends.
    """
    masks = [(s, e) for _, fam, _, s, e in hits if fam.tier is Tier.NONE]
    contexts = [(s, e) for _, fam, _, s, e in hits if fam.context and fam.tier is not Tier.NONE]
    best: tuple[int, int, Family, str, Tier] | None = None
    for order, family, source, start, end in hits:
        if family.tier is Tier.NONE or end <= boundary or _inside(start, end, masks):
            continue
        if family.tier is Tier.CRISIS and _inside(start, end, contexts):
            continue
        tier = family.tier
        if tier is Tier.CRISIS and (end in answered or negated(words, start, end, spanish_denial)):
            tier = Tier.CONCERN
        key = (-RANK[tier], order)
        if best is None or key < (best[0], best[1]):
            best = (key[0], key[1], family, source, tier)
    if best is None:
        return Verdict(Tier.NONE)
    lowered = best[4] is not best[2].tier
    return Verdict(best[4], best[3], f"negated {best[2].name}" if lowered else best[2].name)
