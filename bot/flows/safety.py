"""Recognise crisis language (SPEC §6.3) from the phrases and patterns in flows/safety.yaml.

Invariants: matching never raises, whatever the text; phrases forgive case,
punctuation, spacing ("k i l l myself", "my self"), repeated letters
("diiie") and one-letter typos in longer words ("suicidel"); an exception
covers only its own words: a phrase or pattern match counts unless it lies
wholly inside an exception, so crisis language elsewhere, or overlapping an
exception ("want to die for real" beside "to die for"), still matches.
When safety.yaml is missing or broken the built-in phrases below apply.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.flows.yamlio import Report, check_keys, item_line, key_line, load_yaml

SAFETY_KEYS = ("reply", "concern_reply", "concern_no_reply", "phrases", "concern_phrases",
               "patterns", "exceptions")
DEFAULT_REPLY = ("I'm really glad you told me. You are not alone. Please reach the Veterans "
                 "Crisis Line now: dial 988 then press 1, text 838255, or chat at "
                 "VeteransCrisisLine.net. If you are in danger, call 911.")
DEFAULT_CONCERN_REPLY = ("Thank you for telling me. Are you thinking about killing yourself? "
                         "Reply YES or NO. The Veterans Crisis Line is there 24/7: dial 988 "
                         "then press 1, text 838255, or chat at VeteransCrisisLine.net.")
DEFAULT_CONCERN_NO_REPLY = ("Thank you for answering. If things get harder, the Veterans Crisis "
                            "Line is there 24/7: dial 988 then press 1, or text 838255.")
DEFAULT_PHRASES = ("want to die", "wanna die", "kill myself", "end my life", "better off dead",
                   "no reason to live", "suicide", "suicidal", "end it all")
DEFAULT_CONCERN_PHRASES = ("cant go on", "can not go on", "no point anymore", "no point in living",
                           "better off without me", "nobody would miss me")


class Tier(StrEnum):
    """How serious a text is: crisis, concern (indirect signs) or none."""

    CRISIS = "crisis"
    CONCERN = "concern"
    NONE = "none"


_RANK = {Tier.NONE: 0, Tier.CONCERN: 1, Tier.CRISIS: 2}


@dataclass(frozen=True)
class Verdict:
    """The screen's answer: the tier, and the rule and family that decided it."""

    tier: Tier
    rule: str | None = None
    family: str | None = None


def _squash(word: str) -> str:
    return re.sub(r"(.)\1+", r"\1", word)


def tokens(text: str, squash: bool = True) -> list[str]:
    """Return the normalized words of `text`, joining spelled-out letters ("k i l l")."""
    folded = unicodedata.normalize("NFKC", text or "").lower().replace("’", "'")
    folded = folded.replace("'", "")
    raw = [w for w in re.split(r"[\W_]+", folded) if w]
    out: list[str] = []
    run: list[str] = []
    for word in [*raw, ""]:
        if len(word) == 1:
            run.append(word)
            continue
        out.extend(["".join(run)] if len(run) >= 3 else run)
        run = []
        if word:
            out.append(word)
    return [_squash(w) for w in out] if squash else out


@lru_cache(maxsize=65536)
def _close(a: str, b: str) -> bool:
    """Tell whether two squashed words are equal or one typo apart (words of 5+ letters)."""
    if a == b:
        return True
    if b.endswith("*"):
        return len(b) > 1 and a.startswith(b[:-1])
    if min(len(a), len(b)) < 5 or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] \
            and a[diff[1]] == b[diff[0]]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def _match_at(words: Sequence[str], pi: int, text: list[str], ti: int) -> int | None:
    """Return the end index in `text` if `words[pi:]` matches from `ti`, else None."""
    if pi == len(words):
        return ti
    if ti >= len(text):
        return None
    if _close(text[ti], words[pi]):
        end = _match_at(words, pi + 1, text, ti + 1)
        if end is not None:
            return end
    if ti + 1 < len(text) and _close(text[ti] + text[ti + 1], words[pi]):
        end = _match_at(words, pi + 1, text, ti + 2)
        if end is not None:
            return end
    if pi + 1 < len(words) and _close(text[ti], words[pi] + words[pi + 1]):
        return _match_at(words, pi + 2, text, ti + 1)
    return None


def find(words: Sequence[str], text: list[str]) -> tuple[int, int] | None:
    """Return the (start, end) span where phrase `words` occurs in `text`, else None."""
    return next(spans(words, text), None)


def spans(words: Sequence[str], text: list[str]) -> Iterator[tuple[int, int]]:
    """Yield every (start, end) span where phrase `words` occurs in `text`, by start."""
    for start in range(len(text)):
        end = _match_at(words, 0, text, start)
        if end is not None:
            yield start, end


def _inside(start: int, end: int, covered: Sequence[tuple[int, int]]) -> bool:
    return any(low <= start and end <= high for low, high in covered)


def _phrase_words(phrase: str) -> list[str]:
    keep_star = phrase.strip().endswith("*")
    words = tokens(phrase)
    if keep_star and words:
        words[-1] += "*"
    return words


@dataclass(frozen=True)
class SafetyMatcher:
    """Crisis phrases, regular-expression patterns, exceptions and the crisis reply."""

    reply: str = DEFAULT_REPLY
    phrases: tuple[str, ...] = DEFAULT_PHRASES
    concern_reply: str = DEFAULT_CONCERN_REPLY
    concern_no_reply: str = DEFAULT_CONCERN_NO_REPLY
    concern_phrases: tuple[str, ...] = DEFAULT_CONCERN_PHRASES
    patterns: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()
    # Built once here (the matcher is immutable), so a check tokenises only the text.
    _exception_targets: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)
    _phrase_targets: tuple[tuple[str, tuple[str, ...]], ...] = field(init=False, repr=False,
                                                                     compare=False)
    _compiled_patterns: tuple[tuple[str, re.Pattern[str]], ...] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words = tuple(tuple(_phrase_words(e)) for e in self.exceptions)
        object.__setattr__(self, "_exception_targets", tuple(w for w in words if w))
        object.__setattr__(self, "_phrase_targets",
                           tuple((p, w) for p in self.phrases if (w := tuple(_phrase_words(p)))))
        object.__setattr__(self, "_compiled_patterns",
                           tuple((p, _compiled(p)) for p in self.patterns))

    def match(self, text: str) -> str | None:
        """Return the crisis rule `text` matches (after exceptions), else None."""
        verdict = self.screen(text)
        return verdict.rule if verdict.tier is Tier.CRISIS else None

    def screen(self, text: str, previous: str | None = None) -> Verdict:
        """Return the verdict on `text` read after `previous` (whose own matches do not count)."""
        try:
            return self._screen(text or "", previous or "")
        except Exception:  # never let a strange text switch the screen off
            return Verdict(Tier.NONE)

    def _screen(self, text: str, previous: str) -> Verdict:
        before = len(tokens(previous, squash=False)) if previous else 0
        joined = f"{previous}\n{text}" if previous else text
        crisis = self._first(joined, before, self._phrase_targets, True)
        if crisis is not None:
            return Verdict(Tier.CRISIS, crisis, "crisis")
        concern = self._first(joined, before, tuple(
            (p, tuple(_phrase_words(p))) for p in self.concern_phrases), False)
        if concern is not None:
            return Verdict(Tier.CONCERN, concern, "concern")
        return Verdict(Tier.NONE)

    def _first(self, text: str, before: int, targets: Sequence[tuple[str, tuple[str, ...]]],
               with_patterns: bool) -> str | None:
        plain = tokens(text, squash=False)
        words = [_squash(w) for w in plain]
        covered = [span for target in self._exception_targets for span in spans(target, words)]
        for phrase, target in targets:
            if any(end > before and not _inside(start, end, covered)
                   for start, end in spans(target, words)):
                return phrase
        if not with_patterns:
            return None
        if not self._compiled_patterns:
            return None
        joined = " ".join(plain)
        starts = [0]  # where each word starts in `joined`
        for word in plain:
            starts.append(starts[-1] + len(word) + 1)
        covered_chars = [(starts[low], starts[high] - 1) for low, high in covered]
        for pattern, compiled in self._compiled_patterns:
            if any(not _inside(found.start(), found.end(), covered_chars)
                   and found.end() > starts[before] - 1
                   for found in compiled.finditer(joined)):
                return pattern
        return None


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _strings(doc: Any, key: str, report: Report) -> tuple[str, ...]:
    items = doc.get(key) or []
    if not isinstance(items, list):
        report.add(key_line(doc, key), f"{key} must be a list")
        return ()
    out: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            report.add(item_line(items, index), f"each of {key} must be non-empty text")
            continue
        if key == "patterns":
            try:
                re.compile(item)
            except re.error as exc:
                report.add(item_line(items, index), f"bad pattern {item!r}: {exc}")
                continue
        out.append(str(item))
    return tuple(out)


def load_safety(path: Path) -> tuple[SafetyMatcher | None, Report]:
    """Load safety.yaml; None (with problems in the report) if it is not usable."""
    report = Report(str(path))
    doc = load_yaml(path, report)
    if doc is None:
        if not report.problems:  # empty, or comments only: crisis checks must not go quiet
            report.add(1, "the file is empty; safety.yaml needs reply and phrases")
        return None, report
    if not isinstance(doc, dict):
        report.add(1, "safety.yaml must be a mapping with reply, phrases, patterns, exceptions")
        return None, report
    check_keys(doc, SAFETY_KEYS, "safety.yaml", report)
    reply = doc.get("reply")
    if not isinstance(reply, str) or not reply.strip():
        report.add(key_line(doc, "reply") if "reply" in doc else 1,
                   "reply must be the crisis text")
        reply = DEFAULT_REPLY
    elif "988" not in reply or "838255" not in reply:
        report.add(key_line(doc, "reply"),
                   "reply must give the Veterans Crisis Line: dial 988 then press 1; text 838255")
    phrases = _strings(doc, "phrases", report)
    if not phrases:
        report.add(key_line(doc, "phrases") if "phrases" in doc else 1,
                   "phrases must list the crisis phrases")
    texts = {}
    for key, default in (("concern_reply", DEFAULT_CONCERN_REPLY),
                         ("concern_no_reply", DEFAULT_CONCERN_NO_REPLY)):
        value = doc.get(key, default)
        if not isinstance(value, str) or "988" not in value:
            report.add(key_line(doc, key), f"{key} must be a text giving the crisis line (988)")
            value = default
        texts[key] = str(value).strip()
    concern = _strings(doc, "concern_phrases", report) if "concern_phrases" in doc \
        else DEFAULT_CONCERN_PHRASES
    matcher = SafetyMatcher(reply=str(reply).strip(), phrases=phrases, concern_phrases=concern,
                            **texts,
                            patterns=_strings(doc, "patterns", report),
                            exceptions=_strings(doc, "exceptions", report))
    return (None if report.problems else matcher), report
