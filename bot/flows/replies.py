"""Read replies as people write them (SPEC §9): numbers, yes/no, choices, text.

Invariants: every function accepts any string (emoji, non-Latin scripts,
empty) without raising; a reply that could mean two things is not accepted.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from bot.flows.model import Expect

WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen twenty").split()
_WORD_NUMBER = re.compile(r"\b(" + "|".join(WORDS) + r")\b")
_HALF = re.compile(r"(\d+)\s*(?:and|&|n)\s+a\s+half\b")
_FRACTION = re.compile(r"(\d+(?:\.\d+)?)\s*(?:/|out\s+of|outta|of)\s*(\d+(?:\.\d+)?)")
# A minus sign counts only before a digit and not after one ("-3", not the dash of "7-8").
# A comma groups thousands ("1,000"); between other digits ("7,8") it separates two numbers.
# A decimal point may lead (".5"), unless it ends a word ("fine.5").
_NUMBER = re.compile(r"(?:(?<![\w.,/-])[-−](?=\.?\d))?"
                     r"(?:(?:\d{1,3}(?:,\d{3})+(?![\d,])|\d+)(?:\.\d+)?|(?<![\w.])\.\d+)")
# What a reply holds when a value would have to be invented: half a fraction ("/10", "10/",
# "out of 10"), a scale word ("seven hundred quintillion" is not 7) or a sum ("=1+1").
_HALF_FRACTION = re.compile(r"/|\bout\s*of\b|\boutta\b")
_SCALE = re.compile(r"\b(?:hundreds?|thousands?|millions?|billions?|trillions?|\w+illions?|"
                    r"dozens?)\b")
_SUM = re.compile(r"[=+*×÷^]")
YES = frozenset({"yes", "y", "yeah", "yep", "yup", "yea", "ya", "yah", "sure", "ok", "okay",
                 "k", "absolutely", "definitely", "certainly", "affirmative", "👍"})
NO = frozenset({"no", "n", "nope", "nah", "naw", "never", "negative", "👎"})
# "not" is a no by itself, at the end ("of course not") or before one of these ("not really");
# before other words it is not an answer ("not bad", "not a problem"), and "why not" is not a no.
NOT_THEN_NO = frozenset({"really", "today", "tonight", "now", "yet", "at", "this", "thanks",
                         "anymore", "right", "much", "quite", "for"})
# "no problem", "no worries", "no doubt" agree rather than refuse: not read as no.
NO_SAYINGS = frozenset({"problem", "problems", "prob", "probs", "problemo", "worries", "worry",
                        "doubt", "biggie", "sweat"})


@dataclass(frozen=True)
class Parsed:
    """The outcome of reading a reply: ok with a value, or not ok."""

    ok: bool
    value: Any = None


NOT_UNDERSTOOD = Parsed(False)


def fold(text: str) -> str:
    """Return `text` lower-cased and normalized, apostrophes dropped."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return text.replace("’", "").replace("'", "")


def words(text: str) -> list[str]:
    """Return the words of `text` (letters and digits of any script; emoji kept as words)."""
    return [w for w in re.split(r"[^\w👍👎]+", fold(text)) if w and w != "_"]


def _to_number(token: str) -> float:
    return float(token.replace(",", "").replace("−", "-"))


def parse_number(text: str, low: float | None = None, high: float | None = None) -> Parsed:
    """Read one number: `7`, `seven`, `about a 7`, `7/10`, `7 out of 10`; else not ok."""
    folded = _WORD_NUMBER.sub(lambda m: str(WORDS.index(m.group(1))), fold(text))
    folded = _HALF.sub(lambda m: m.group(1) + ".5", folded)  # "nine and a half" is 9.5, not 9
    try:
        scales = {_to_number(m.group(2)) for m in _FRACTION.finditer(folded)}
        folded = _FRACTION.sub(lambda m: m.group(1), folded)
        if _HALF_FRACTION.search(folded) or _SCALE.search(folded) or _SUM.search(folded):
            return NOT_UNDERSTOOD
        values = {_to_number(token) for token in _NUMBER.findall(folded)}
    except ValueError:
        return NOT_UNDERSTOOD
    if len(values) != 1 or (high is not None and scales - {10, high}):
        return NOT_UNDERSTOOD  # "4/5" on a 0-10 step means 8, not 4: ask rather than rescale
    value = values.pop()
    if not math.isfinite(value):  # "999...9" overflows to inf, which JSON cannot store
        return NOT_UNDERSTOOD
    if (low is not None and value < low) or (high is not None and value > high):
        return NOT_UNDERSTOOD
    return Parsed(True, int(value) if value.is_integer() else value)


def parse_yesno(text: str) -> Parsed:
    """Read yes or no (y/yeah/yep/sure/ok, n/nope/nah); a reply with both is not ok."""
    found = words(text)
    said_yes = said_no = False
    for i, word in enumerate(found):
        after = found[i + 1] if i + 1 < len(found) else None
        if word == "no" and after in NO_SAYINGS:
            continue
        if word != "not":
            said_yes |= word in YES
            said_no |= word in NO
            continue
        if after in YES:
            return NOT_UNDERSTOOD  # "not sure", "not ok"
        said_no |= (after is None or after in NOT_THEN_NO) and found[i - 1:i] != ["why"]
    if said_yes == said_no:
        return NOT_UNDERSTOOD
    return Parsed(True, said_yes)


def _terms(expect: Expect) -> list[tuple[tuple[str, ...], list[str]]]:
    """Return each distinct term (as words) with the options it names, longest first."""
    terms: dict[tuple[str, ...], list[str]] = {}
    for value, synonyms in expect.options:
        for term in (value, *synonyms):
            tokens = tuple(words(term))
            if tokens and value not in terms.setdefault(tokens, []):
                terms[tokens].append(value)
    return sorted(terms.items(), key=lambda item: -len(item[0]))


def _choose(matched: set[str], expect: Expect) -> Parsed:
    ordered = [value for value, _ in expect.options if value in matched]
    if expect.multiple:
        return Parsed(True, ordered) if ordered else NOT_UNDERSTOOD
    return Parsed(True, ordered[0]) if len(ordered) == 1 else NOT_UNDERSTOOD


_JOINERS = frozenset({"and", "plus", "n", "also"})
_RANGE = re.compile(r"\d\s*(?:[-–—~]|\bto\b|\bthru\b|\bthrough\b)\s*\d")
# Words that take an option back ("all but sleep", "pacing, not sleep"): a choice reply with one
# left over is re-asked, since matching the rest of the words would pick what was excluded.
_EXCEPT = frozenset({"not", "no", "but", "except", "excluding", "without", "minus", "besides",
                     "nor", "dont", "skip"})


def _spelled_numbers(tokens: tuple[str, ...], known: set[tuple[str, ...]]) -> tuple[str, ...]:
    """Read "three" as "3" when the reply is only numbers ("one and three"), not "the sleep one".

    A spelled number that is itself an option's synonym is left as it is.
    """
    if not any(t in WORDS for t in tokens) or not all(
            t.isdigit() or t in WORDS or t in _JOINERS for t in tokens):
        return tokens
    return tuple(str(WORDS.index(t)) if t in WORDS and (t,) not in known else t for t in tokens)


def parse_choice(text: str, expect: Expect) -> Parsed:
    """Match the whole reply, else its words and phrases, against each option's synonyms."""
    terms = _terms(expect)
    tokens = _spelled_numbers(tuple(words(text)), {term for term, _ in terms})
    if not tokens:
        return NOT_UNDERSTOOD
    for term, values in terms:
        if term == tokens:
            return _choose(set(values), expect)
    remaining: list[str | None] = list(tokens)
    matched: set[str] = set()
    for term, values in terms:
        size = len(term)
        for start in range(len(remaining) - size + 1):
            if tuple(remaining[start:start + size]) == term:
                matched.update(values)
                remaining[start:start + size] = [None] * size
    if any(t in _EXCEPT for t in remaining):
        return NOT_UNDERSTOOD
    numbered = any(len(term) == 1 and term[0].isdigit() for term, _ in terms)
    if numbered and any(t is not None and t.isdigit() for t in remaining):
        return NOT_UNDERSTOOD  # "1 9" against options 1-8: a typo; keeping 1 alone would guess
    if numbered and _RANGE.search(fold(text)):
        return NOT_UNDERSTOOD  # "1-3": 1 to 3, or 1 and 3? Asking beats guessing
    return _choose(matched, expect)


def parse_text(text: str, max_length: int | None = None) -> Parsed:
    """Accept any non-empty reply (stored as sent, trimmed), up to `max_length` characters."""
    stripped = (text or "").strip()
    if not stripped or (max_length is not None and len(stripped) > max_length):
        return NOT_UNDERSTOOD
    return Parsed(True, stripped)


def parse_reply(expect: Expect, text: str) -> Parsed:
    """Read `text` as `expect` asks."""
    if expect.type == "number":
        return parse_number(text, expect.min, expect.max)
    if expect.type == "yesno":
        return parse_yesno(text)
    if expect.type == "choice":
        return parse_choice(text, expect)
    return parse_text(text, expect.max_length)


def default_invalid(expect: Expect) -> str:
    """Return the re-ask text used when a step has no `invalid`."""
    if expect.type == "number":
        if expect.min is not None and expect.max is not None:
            return f"Please answer with a number from {expect.min:g} to {expect.max:g}."
        return "Please answer with a number."
    if expect.type == "yesno":
        return "Please answer yes or no."
    if expect.type == "choice":
        names = ", ".join(value for value, _ in expect.options)
        return f"Please answer with one of: {names}."
    if expect.max_length:
        return f"Please answer in {expect.max_length} characters or fewer."
    return "Please send a short answer."
