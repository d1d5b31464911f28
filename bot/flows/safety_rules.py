"""Find compiled safety phrases in a text, fast.

Rules: a text word is looked up once per matcher (exact forms, then one
typo in words of 5+ letters, Spanish spelling by ear in words of 4+, then
word starts) and the answer cached; an unknown run-together word is split
into known words ("killmyself"); a phrase's sequence (bot.flows.
safety_phrases) is then walked word by word, a gap skipping up to its
number of words. Nothing here raises on any text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

from bot.flows.safety_phrases import Seq, Vocabulary
from bot.flows.safety_text import FILLERS, SPELLED_OUT, squash


def _join(table: dict[str, frozenset[str]], key: str, ids: frozenset[str]) -> None:
    """Add `ids` under `key`: the same frozenset when the key is new, else the union."""
    found = table.get(key)
    table[key] = ids if found is None or found is ids else found | ids


class Lookup:
    """Which word ids a text word stands for, with typos and word starts, cached."""

    def __init__(self, vocab: Vocabulary):
        exact: dict[str, frozenset[str]] = {form: frozenset(ids)
                                            for form, ids in vocab.exact.items()}
        self.exact = exact
        self.stems = {key: tuple(sorted(ids, key=len, reverse=True))
                      for key, ids in vocab.stems.items()}
        self.long_stems: dict[str, list[str]] = {}  # by first letter, for typos in stems
        for stem_ids in vocab.stems.values():
            for stem in stem_ids:
                if len(stem) >= 6:  # "*" + 5 letters or more
                    self.long_stems.setdefault(stem[1], []).append(stem)
        # Typo tables: a key per one-letter variant. Its value is the form's own frozenset
        # (shared, not copied: a set per key was 42 MiB a process); a key two forms share
        # gets their union.
        self.substituted: dict[str, frozenset[str]] = {}
        self.deleted: dict[str, frozenset[str]] = {}
        for form, ids in exact.items():
            if len(form) < 6:  # a wrong or missing letter only in words of 6+ letters
                continue
            # a typo never turns "matarme" (myself) into "matarte" or "matarse"
            for i in range(len(form) - 2 if form.endswith("me") else len(form)):
                _join(self.substituted, form[:i] + "?" + form[i + 1:], ids)
                _join(self.deleted, form[:i] + form[i + 1:], ids)
        self.sounds: dict[str, frozenset[str]] = {}  # Spanish spelling by ear: "bida" = "vida"
        for form, ids in exact.items():
            if len(form) >= 4 and form.isalpha():
                _join(self.sounds, sounds_like(form), ids)
        self.cache: dict[str, frozenset[str]] = {}
        self.split_cache: dict[str, tuple[str, ...]] = {}

    def ids(self, word: str) -> frozenset[str]:
        """Return the ids of squashed `word` (exact, then one typo, then word starts)."""
        found = self.cache.get(word)
        if found is not None:
            return found
        if len(self.cache) > 50_000:
            self.cache.clear()
        out: set[str] = set(self.exact.get(word, ()))
        if word.endswith("in") and len(word) >= 5:  # "killin", "cuttin"
            out.update(self.exact.get(word + "g", ()))
        if len(word) == 4:  # a swapped pair in a short word, never the first letter: "wnat"
            for i in range(1, 3):
                out.update(self.exact.get(word[:i] + word[i + 1] + word[i] + word[i + 2:], ()))
        if 5 <= len(word) <= 30:  # no real word is longer; keeps odd input cheap
            for i in range(len(word)):
                if len(word) >= 6:  # a wrong letter, or an extra one
                    out.update(self.substituted.get(word[:i] + "?" + word[i + 1:], ()))
                    out.update(self.exact.get(word[:i] + word[i + 1:], ()))
                if i + 1 < len(word):
                    out.update(self.exact.get(word[:i] + word[i + 1] + word[i] + word[i + 2:], ()))
            out.update(self.deleted.get(word, ()))
        if len(word) >= 4 and word.isalpha():
            out.update(self.sounds.get(sounds_like(word), ()))
        out.update(self.stem_ids(word, typos=True))
        found = frozenset(out)
        self.cache[word] = found
        return found

    def stem_ids(self, word: str, typos: bool = False) -> list[str]:
        """Return the ids of the word starts `word` begins with (one typo in 5+ letters)."""
        out = [stem for stem in self.stems.get(word[:3], ()) if word.startswith(stem[1:])]
        if typos and not out and len(word) >= 5:
            out = [stem for stem in self.long_stems.get(word[0], ()) if _near_start(word, stem[1:])]
        return out

    def split(self, raw: str) -> tuple[str, ...]:
        """Split an unknown run-together word ("killmyself") into known words, if it can."""
        found = self.split_cache.get(raw)
        if found is not None:
            return found
        if len(self.split_cache) > 50_000:
            self.split_cache.clear()
        result: tuple[str, ...] = (raw,)
        if 6 <= len(raw) <= 40:
            best: list[tuple[str, ...] | None] = [None] * (len(raw) + 1)
            best[0] = ()
            for end in range(1, len(raw) + 1):
                for start in range(max(0, end - 20), end):
                    before = best[start]
                    part = raw[start:end]
                    if before is None or len(before) >= 5 or (len(part) < 2 and part != "i"):
                        continue
                    if squash(part) in self.exact or part in _RUN_TOGETHER_FORMS or (
                            len(part) >= 5 and part.isalpha()
                            and sounds_like(part) in self.sounds):
                        candidate = (*before, *_RUN_TOGETHER_FORMS.get(part, (part,)))
                        current = best[end]
                        if current is None or len(candidate) < len(current):
                            best[end] = candidate
            parts = best[len(raw)]
            if parts is not None and len(parts) > 1:
                result = parts
        self.split_cache[raw] = result
        return result


# Texting forms a run-together word may hold ("iwannadie", "imgonnakms"), spelled
# out; short ones only when they cannot be read otherwise.
_RUN_TOGETHER_FORMS = {key: tuple(value.split()) for key, value in SPELLED_OUT.items()
                       if key.isalpha() and (len(key) >= 4 or key in ("im", "ima", "ive"))}

_SOFT_C = re.compile(r"c(?=[ei])")
_SOFT_G = re.compile(r"g(?=[ei])")


@lru_cache(maxsize=16384)
def sounds_like(word: str) -> str:
    """Return how a Spanish speaker may spell `word` by ear: b/v, s/z/soft c, k/qu/hard c, h.

    "bida" = "vida", "suisidarme" = "suicidarme", "aorcarme" = "ahorcarme",
    "kiero" = "quiero", "jente" = "gente". Only words of 4+ letters are read
    this way (the caller checks), so "her" never stands for "er".
    """
    out = word.replace("ch", "1").replace("qu", "k")
    out = _SOFT_G.sub("j", _SOFT_C.sub("s", out))
    out = out.replace("c", "k").replace("z", "s").replace("v", "b").replace("h", "")
    return out.replace("1", "ch")


def _near_start(word: str, stem: str) -> bool:
    """Tell whether `word` starts with `stem` give or take one typo."""
    size = len(stem)
    same = word[:size]
    if len(same) == size:
        diff = [i for i in range(size) if same[i] != stem[i]]
        if len(diff) == 1:
            return True
        first, second = (diff + [-1, -1])[:2]
        if len(diff) == 2 and second == first + 1 and same[first] == stem[second] \
                and same[second] == stem[first]:
            return True
    short = word[:size - 1]
    if len(short) == size - 1 and any(stem[:i] + stem[i + 1:] == short for i in range(size)):
        return True
    long_ = word[:size + 1]
    return len(long_) == size + 1 and any(long_[:i] + long_[i + 1:] == stem
                                          for i in range(size + 1))


INDEX_FROM = 40  # words; a longer text gets an index of where each word id stands


class Words:
    """A text's words as the matcher sees them: squashed, fillers out, split, with ids."""

    def __init__(self, previous: list[str], raw: list[str], lookup: Lookup):
        self.lookup = lookup
        plain: list[str] = []
        self.boundary = 0  # words before this index are the previous text's
        for part in (previous, raw):
            for word in part:
                if word in FILLERS:
                    continue
                squashed = squash(word)
                if squashed not in lookup.exact and len(word) >= 6 and not lookup.ids(squashed):
                    plain.extend(lookup.split(word))
                else:
                    plain.append(word)
            if part is previous:
                self.boundary = len(plain)
        self.plain = plain
        self.n = len(plain)
        self.squashed = [squash(w) for w in plain]
        self.ids = [lookup.ids(w) for w in self.squashed]
        self._joined: dict[int, frozenset[str]] = {}
        self._at: dict[str, list[int]] | None = None

    def joined_ids(self, index: int) -> frozenset[str]:
        """Return the exact ids of this word run together with the next ("ki ll")."""
        found = self._joined.get(index)
        if found is None:
            both = squash(self.plain[index] + self.plain[index + 1])
            found = self.lookup.exact.get(both, frozenset())
            stems = self.lookup.stem_ids(both)
            if stems:
                found = found | frozenset(stems)
            self._joined[index] = found
        return found

    def all_ids(self) -> set[str]:
        """Return every id any word (or pair of words run together) stands for."""
        out: set[str] = set()
        for index, ids in enumerate(self.ids):
            out.update(ids)
            if index + 1 < self.n:
                out.update(self.joined_ids(index))
        return out

    def at(self) -> dict[str, list[int]]:
        """Return, for every id, the word indices (in order) where a match may start with it."""
        if self._at is None:
            found: dict[str, list[int]] = {}
            for index, ids in enumerate(self.ids):
                here = ids | self.joined_ids(index) if index + 1 < self.n else ids
                for key in here:
                    found.setdefault(key, []).append(index)
            self._at = found
        return self._at


def _walk(seq: Seq, si: int, text: Words, ti: int) -> int | None:
    """Return where `seq[si:]` ends if it matches from word `ti`, else None."""
    if si == len(seq):
        return ti
    slot = seq[si]
    if isinstance(slot, int):
        for skip in range(slot + 1):
            if ti + skip > text.n:
                break
            end = _walk(seq, si + 1, text, ti + skip)
            if end is not None:
                return end
        return None
    if ti >= text.n:
        return None
    if not slot.isdisjoint(text.ids[ti]):
        end = _walk(seq, si + 1, text, ti + 1)
        if end is not None:
            return end
    if ti + 1 < text.n and not slot.isdisjoint(text.joined_ids(ti)):
        return _walk(seq, si + 1, text, ti + 2)
    return None


def find_spans(seq: Seq, text: Words) -> Iterator[tuple[int, int]]:
    """Yield every (start, end) word span where `seq` matches, by start."""
    first = seq[0]
    assert not isinstance(first, int)
    starts: Iterable[int]
    if text.n > INDEX_FROM:  # a long text: look the starts up rather than test every word
        at = text.at()
        found = [at[key] for key in first if key in at]
        starts = found[0] if len(found) == 1 else sorted({i for where in found for i in where})
    else:
        ids, last = text.ids, text.n - 1
        starts = (i for i in range(text.n) if not first.isdisjoint(ids[i]) or (
            i < last and not first.isdisjoint(text.joined_ids(i))))
    for start in starts:
        end = _walk(seq, 0, text, start)
        if end is not None:
            yield start, end


_COMMON = frozenset(squash(w) for w in """i me my you your it is am are be was to the a an
and of in on at for with not no do have that this all so can will would what que de la el
me mi no yo y a se lo en un una ya te""".split())


def anchor(seq: Seq) -> frozenset[str]:
    """Return the ids of the seq's least common slot: the text must have one of them."""
    slots = [s for s in seq if not isinstance(s, int)]
    return min(slots, key=lambda s: (bool(s & _COMMON), -min(len(i) for i in s), len(s)))
