"""The safety screen (SPEC §10): read a text, say crisis, concern or none.

Rules:
- Every rule belongs to a family with a tier. A `none` family lists sayings
  that are not crisis language ("my back is killing me"): a match lying
  wholly inside one of them does not count. A concern family marked
  `context` (e.g. losing someone to suicide) makes a crisis match lying
  wholly inside it count as concern. An exception covers only its own
  words: crisis language elsewhere in the text, or overlapping the saying
  ("want to die for real" beside "to die for"), still counts.
- `previous` (the same number's text of the last 10 minutes) is read
  before `text` as one text, so "I want to" + "die" is caught; a match lying
  wholly inside `previous` does not count (it was answered then).
- The highest tier wins; among rules of one tier, the first in the file.
- The learned second layer (bot.flows.safety_model) is consulted in one
  place, `SafetyMatcher.screen`, and only when the rules say none: a text it
  scores at or above the model file's threshold gets the concern tier (family
  `learned_layer`). It never lowers a verdict, never gives crisis, and reads
  only the current text. `learned_layer=False` (safety.yaml `learned_layer:
  no`) leaves the rules alone.
- A pattern whose match must start with one of a few known words is tried
  only on texts holding a word that starts like one of them (speed only:
  the verdicts are the same as trying every pattern on every text).
- The words patterns read are lower case (safety_text.words), so a pattern
  with no upper-case letter outside an escape is compiled without
  IGNORECASE: the same matches, found faster (speed only).
- A pattern starting with a word boundary and a plain word, or a group of
  plain words ("\\bmy (?:final", "\\b(?:took|swallowed) "), is compiled with
  the word first and the boundary checked behind it ("my(?<=\\bmy) (?:final"):
  the same matches, and the regular expression engine can then look for the
  words instead of trying every position (speed only).
- Screening never raises, whatever the text: on an internal fault it logs
  and falls back to a plain look for the built-in crisis words.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.flows import safety_builtin as builtin
from bot.flows.safety_model import load_model
from bot.flows.safety_phrases import Lists, PhraseError, Seq, Vocabulary, compile_phrase
from bot.flows.safety_rules import Lookup, Words, anchor, find_spans
from bot.flows.safety_text import fold, words
from bot.flows.safety_verdict import (
    QUESTION_DENIED,
    SPANISH_DENIAL,
    Family,
    Tier,
    Verdict,
    decide,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Rule:
    order: int
    family: Family
    source: str
    seq: Seq
    slots: tuple[frozenset[str], ...]  # every word slot; the text must touch each one


def _builtin_families() -> tuple[Family, ...]:
    return tuple(Family(name, Tier(tier), tuple(phrases), context=context)
                 for name, tier, context, phrases in builtin.FAMILIES)


BUILTIN_FAMILIES = _builtin_families()
BUILTIN_LISTS = tuple((name, tuple(entries)) for name, entries in builtin.LISTS.items())


@dataclass(frozen=True)
class SafetyMatcher:
    """The safety screen: families of rules, exceptions, and the three replies.

    `SafetyMatcher()` is the built-in screen used when safety.yaml is missing
    or broken. `phrases`, `patterns` and `exceptions` are the older flat lists
    (crisis, crisis, none), still accepted; `concern_phrases` likewise.
    """

    reply: str = builtin.REPLY
    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()
    concern_reply: str = builtin.CONCERN_REPLY
    concern_no_reply: str = builtin.CONCERN_NO_REPLY
    concern_phrases: tuple[str, ...] = ()
    families: tuple[Family, ...] = BUILTIN_FAMILIES
    lists: tuple[tuple[str, tuple[str, ...]], ...] = BUILTIN_LISTS
    learned_layer: bool = True
    _compiled: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", _Compiled(self.all_families(), dict(self.lists)))

    def all_families(self) -> list[Family]:
        """Return the families in screening order (the flat lists first)."""
        flat = [Family("phrases", Tier.CRISIS, self.phrases, self.patterns),
                Family("concern_phrases", Tier.CONCERN, self.concern_phrases),
                Family("exceptions", Tier.NONE, self.exceptions)]
        return [f for f in flat if f.phrases or f.patterns] + list(self.families)

    def match(self, text: str) -> str | None:
        """Return the crisis rule `text` matches (after exceptions), else None."""
        verdict = self.screen(text)
        return verdict.rule if verdict.tier is Tier.CRISIS else None

    def screen(self, text: str, previous: str | None = None) -> Verdict:
        """Return the verdict on `text` read after `previous` (whose own matches do not count)."""
        try:
            verdict = self._compiled.screen(text or "", previous or "")
        except Exception:  # a fault must never switch the screen off
            log.exception("safety screen fault; using the plain built-in words")
            plain = " ".join(re.findall(r"[a-z]+", fold(f"{previous or ''} {text or ''}")))
            for word in builtin.PLAIN_CRISIS_WORDS:
                if word in plain:
                    return Verdict(Tier.CRISIS, word, "fallback")
            return Verdict(Tier.NONE)
        if verdict.tier is Tier.NONE and self.learned_layer:
            return _learned(text or "")
        return verdict


class _Compiled:
    """The rules of one matcher, compiled once for fast screening."""

    def __init__(self, families: Sequence[Family], lists: dict[str, tuple[str, ...]]):
        vocab = Vocabulary({}, {})
        named = Lists(lists)
        self.rules: list[_Rule] = []
        self.patterns: list[tuple[int, Family, str, re.Pattern[str],
                                  tuple[str, ...] | None]] = []
        for family in families:
            for source in family.phrases:
                try:
                    seqs = compile_phrase(source, named, vocab)
                except PhraseError:  # the loader reports these; a built matcher skips them
                    continue
                base = len(self.rules)
                self.rules.extend([
                    _Rule(base + i, family, source, seq,
                          tuple(s for s in seq if not isinstance(s, int)))
                    for i, seq in enumerate(seqs)])
            for pattern in family.patterns:
                try:
                    compiled = re.compile(literal_first(pattern), pattern_flags(pattern))
                    self.patterns.append((len(self.rules) + len(self.patterns), family, pattern,
                                          compiled, required_literals(pattern)))
                except re.error:
                    continue
        # Patterns by the first letters of the words they can start with; the rest always run
        self.pattern_keys: dict[str, list[int]] = {}
        self.always: list[int] = []
        for index, (_, _, _, _, literals) in enumerate(self.patterns):
            keys = {lit.split(" ")[0][:3] for lit in literals or ()}
            if literals is None or not all(key.isalnum() for key in keys):
                self.always.append(index)
            for key in keys:
                self.pattern_keys.setdefault(key, []).append(index)
        self.lookup = Lookup(vocab)
        self.index: dict[str, list[_Rule]] = {}
        for rule in self.rules:
            for key in anchor(rule.seq):
                self.index.setdefault(key, []).append(rule)

    def screen(self, text: str, previous: str) -> Verdict:
        """Return the verdict (see the module rules)."""
        before = words(previous) if previous else []
        found = Words(before, words(text), self.lookup)
        present = found.all_ids()
        candidates: dict[int, _Rule] = {}
        for key in present:
            for rule in self.index.get(key, ()):
                if rule.order not in candidates and all(
                        not slot.isdisjoint(present) for slot in rule.slots):
                    candidates[rule.order] = rule
        hits: list[tuple[int, Family, str, int, int]] = []
        for order in sorted(candidates):
            rule = candidates[order]
            hits.extend((order, rule.family, rule.source, start, end)
                        for start, end in find_spans(rule.seq, found))
        if self.patterns:
            hits.extend(self._pattern_hits(found))
        if not hits:
            return Verdict(Tier.NONE)
        folded = fold(text)
        answered = frozenset(
            Words(before, words(folded[:question.start()]), self.lookup).n
            for question in QUESTION_DENIED.finditer(folded)) if "?" in folded else frozenset()
        return decide(hits, found.boundary, found.plain, answered,
                      "no " in folded and bool(SPANISH_DENIAL.search(folded)))

    def _pattern_hits(self, found: Words) -> list[tuple[int, Family, str, int, int]]:
        joined = " ".join(found.plain)
        starts = [0]
        for word in found.plain:
            starts.append(starts[-1] + len(word) + 1)
        out = []
        firsts = {word[:size] for word in found.plain for size in (1, 2, 3)}
        chosen = set(self.always)  # the others cannot match without one of their first words
        for key in firsts & self.pattern_keys.keys():
            chosen.update(self.pattern_keys[key])
        for index in sorted(chosen):
            order, family, source, compiled, _ = self.patterns[index]
            for hit in compiled.finditer(joined):
                first = bisect_right(starts, hit.start()) - 1
                last = bisect_right(starts, max(hit.end() - 1, hit.start()))
                out.append((order, family, source, first, max(last, first + 1)))
        return out


_META = frozenset(".^$*+?{}[]()|\\")
_UPPER = re.compile(r"(?<!\\)[A-Z]")


def pattern_flags(pattern: str) -> int:
    """Return IGNORECASE for a pattern with an upper-case letter outside an escape, else 0."""
    return re.IGNORECASE if _UPPER.search(pattern) else 0


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789 ")


def literal_first(pattern: str) -> str:
    """Return `pattern` with its leading boundary moved behind its first word(s), if plain."""
    if not pattern.startswith("\\b"):
        return pattern
    rest = pattern[2:]
    if not rest.startswith("(?:"):
        word = _plain_start(rest)
        return f"{word}(?<=\\b{word}){rest[len(word):]}" if word else pattern
    group = _leading_group(rest)
    if group is None:
        return pattern
    parts, after = group
    words = [_plain_start(part) for part in parts]
    if after[:1] in ("?", "*", "{") or not all(words):
        return pattern
    alternatives = "|".join(f"{word}(?<=\\b{word}){part[len(word):]}"
                            for word, part in zip(words, parts, strict=True))
    return f"(?:{alternatives}){after}"


def _leading_group(rest: str) -> tuple[list[str], str] | None:
    """Split `rest`, which opens with "(?:", into its top-level alternatives and what follows."""
    depth, parts, start, index = 0, [], 3, 3
    while index < len(rest):
        ch = rest[index]
        if ch == "\\":
            index += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif ch in ")|" and not depth:
            parts.append(rest[start:index])
            start = index + 1
            if ch == ")":
                return parts, rest[index + 1:]
        index += 1
    return None  # never closed


def _plain_start(text: str) -> str:
    """Return the plain lower-case word(s) `text` starts with, or "" when under 2 characters."""
    word = _literal_prefix(text)
    return word if len(word) >= 2 and set(word) <= _PLAIN and text.startswith(word) else ""


def _literal_prefix(text: str) -> str:
    """Return the plain characters `text` starts with (less one a quantifier makes optional)."""
    out: list[str] = []
    for ch in text:
        if ch in _META:
            if ch in "?*{" and out:
                out.pop()
            break
        out.append(ch)
    return "".join(out).lower()


def required_literals(pattern: str) -> tuple[str, ...] | None:
    """Return texts one of which every match of `pattern` starts with (at a word), else None.

    Only a leading literal, or a leading group of literal alternatives
    ("\\b(?:took|swallowed) ..."), is read; anything else gives None and the
    pattern is always tried. A text without any of them cannot match, so the
    regular expression is skipped (most patterns, on most texts).
    """
    rest = pattern
    while rest.startswith(("\\b", "^")):
        rest = rest[2:] if rest.startswith("\\b") else rest[1:]
    if not rest.startswith("(?:"):
        literal = _literal_prefix(rest)
        return (literal,) if len(literal) >= 2 else None
    group = _leading_group(rest)
    if group is None:
        return None
    parts, after = group
    if after[:1] in ("?", "*", "{"):
        return None  # the group is optional
    literals = tuple(_literal_prefix(part) for part in parts)
    return literals if all(len(lit) >= 2 for lit in literals) else None


def _learned(text: str) -> Verdict:
    """Return concern when the learned layer's score reaches its threshold, else none."""
    model = load_model()
    if model is None:
        return Verdict(Tier.NONE)
    try:
        score = model.score(text)
    except Exception:  # the layer may fail; the rules' verdict stands
        log.exception("safety model fault; the rules' verdict stands")
        return Verdict(Tier.NONE)
    if score >= model.concern_threshold:
        return Verdict(Tier.CONCERN, f"score {score:.2f}", "learned_layer")
    return Verdict(Tier.NONE)
