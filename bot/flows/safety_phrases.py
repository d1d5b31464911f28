"""Compile safety.yaml phrases into plain sequences of word slots and gaps.

Phrase syntax (documented for staff at the top of flows/safety.yaml):
- `kill myself`    words in order; each word also matches its inflections
                   (killed, killing), repeated letters, and, in words of 5+
                   letters, one typo (a letter missing, extra, wrong or swapped);
- `suicid*`        a word start (3+ letters): suicide, suicidal, suicidio;
- `(gun|pistol)`   one of these (each may be several words; `(a|)` = optional);
- `word?`          an optional word;
- `<pills>`        any entry of the named list in `lists:`;
- `...`            up to GAP (5) other words ("nothing ... to live for").

Rules: a phrase is expanded at load into plain sequences (at most
MAX_VARIANTS, at most MAX_GAPS gaps each); a phrase that cannot be compiled
raises PhraseError with a message saying how to fix it, nothing else
raises; compiling is cached, so a file checked and then built compiles each
phrase once. Finding the sequences in a text is bot.flows.safety_rules.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.flows.safety_text import FILLERS, fold, forms, squash, words

GAP = 5
MAX_VARIANTS = 400
MAX_GAPS = 3
_SYNTAX = re.compile(r"\.\.\.|[()|]|<[^<>\s]*>?|[^\s()|<>]+")

Slot = frozenset[str] | int  # a set of word ids, or a gap of up to N words
Seq = tuple[Slot, ...]


class PhraseError(ValueError):
    """A phrase that cannot be compiled; the message says how to fix it."""


@lru_cache(maxsize=16384)
def _squashed_forms(word: str) -> frozenset[str]:
    return frozenset(squash(form) for form in forms(word))


@dataclass
class Vocabulary:
    """Every word form the rules know, for exact, typo and word-start look-ups."""

    exact: dict[str, set[str]]
    stems: dict[str, set[str]]

    def add(self, word: str) -> str:
        """Register `word` and its forms; return its id."""
        key = squash(word)
        for form in _squashed_forms(word):
            self.exact.setdefault(form, set()).add(key)
        return key

    def add_stem(self, stem: str) -> str:
        """Register a word start; return its id."""
        key = "*" + squash(stem)
        self.stems.setdefault(squash(stem)[:3], set()).add(key)
        return key


class Lists:
    """The named word lists of a safety file, hashable so compiled phrases can be cached."""

    def __init__(self, mapping: Mapping[str, Sequence[str]]):
        self.map = {str(k): tuple(v) for k, v in mapping.items()}
        self.key = tuple(sorted(self.map.items()))

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lists) and other.key == self.key


class _Recorder:
    """Collect the words and word starts a phrase uses; return their ids."""

    def __init__(self) -> None:
        self.words: set[str] = set()
        self.stems: set[str] = set()

    def add(self, word: str) -> str:
        self.words.add(word)
        return squash(word)

    def add_stem(self, stem: str) -> str:
        self.stems.add(stem)
        return "*" + squash(stem)


def _parse(source: str, lists: Lists, rec: _Recorder, depth: int = 0) -> list[Seq]:
    """Return the plain sequences `source` stands for."""
    pieces = _SYNTAX.findall(source)
    seqs, pos = _alternatives(pieces, 0, lists, rec, depth)
    if pos != len(pieces):
        raise PhraseError(f"unexpected '{pieces[pos]}'; a ')' or '|' has no '(' before it")
    return seqs


def _alternatives(pieces: list[str], pos: int, lists: Lists, rec: _Recorder,
                  depth: int) -> tuple[list[Seq], int]:
    out: list[Seq] = []
    while True:
        seq, pos = _sequence(pieces, pos, lists, rec, depth)
        out.extend(seq)
        if pos < len(pieces) and pieces[pos] == "|":
            pos += 1
            continue
        return out, pos


def _sequence(pieces: list[str], pos: int, lists: Lists, rec: _Recorder,
              depth: int) -> tuple[list[Seq], int]:
    variants: list[Seq] = [()]
    while pos < len(pieces) and pieces[pos] not in ("|", ")"):
        piece = pieces[pos]
        pos += 1
        if piece == "(":
            options, pos = _alternatives(pieces, pos, lists, rec, depth)
            if pos >= len(pieces) or pieces[pos] != ")":
                raise PhraseError("a '(' is not closed with ')'")
            pos += 1
            if pos < len(pieces) and pieces[pos] == "?":
                pos += 1
                options.append(())
        elif piece == "...":
            options = [(GAP,)]
        elif piece.startswith("<"):
            seqs, used, stems = _list_options(piece, lists, depth)
            rec.words.update(used)
            rec.stems.update(stems)
            options = list(seqs)
        else:
            options = _word_options(piece, rec)
        variants = [a + b for a, b in itertools.product(variants, _merge(options))]
        if len(variants) > MAX_VARIANTS:
            raise PhraseError(f"this phrase has more than {MAX_VARIANTS} combinations; "
                              "split it into several phrases")
    return variants, pos


@lru_cache(maxsize=1024)
def _list_options(piece: str, lists: Lists, depth: int) -> tuple[
        tuple[Seq, ...], frozenset[str], frozenset[str]]:
    """Return a list's sequences and the words they use (cached: lists repeat a lot)."""
    name = piece.strip("<>")
    if not piece.endswith(">") or name not in lists.map:
        known = ", ".join(f"<{n}>" for n in sorted(lists.map)) or "none"
        raise PhraseError(f"unknown list {piece}; lists are named under `lists:` ({known})")
    if depth > 3:
        raise PhraseError(f"list {piece} refers to lists too deeply (at most 3 levels)")
    rec = _Recorder()
    out: list[Seq] = []
    for entry in lists.map[name]:
        out.extend(_parse(entry, lists, rec, depth + 1))
    return tuple(out), frozenset(rec.words), frozenset(rec.stems)


def _word_options(piece: str, rec: _Recorder) -> list[Seq]:
    optional = piece.endswith("?")
    piece = piece.rstrip("?")
    if piece.endswith("*"):
        found = words(piece[:-1])
        if len(found) != 1 or len(found[0]) < 3 or len(fold(piece[:-1]).strip("'")) < 3:
            raise PhraseError(f"a word start needs 3 or more letters before the * ('{piece}')")
        seq: Seq = (frozenset({rec.add_stem(found[0])}),)
    else:
        seq = tuple(frozenset({rec.add(w)}) for w in words(piece) if w not in FILLERS)
    return [seq, ()] if optional else [seq]


def _merge(options: list[Seq]) -> list[Seq]:
    """Join one-word options into a single slot: (kill|end|take) is one look-up."""
    single = [o[0] for o in options if len(o) == 1 and isinstance(o[0], frozenset)]
    rest = [o for o in options if not (len(o) == 1 and isinstance(o[0], frozenset))]
    merged: list[Seq] = [(frozenset().union(*single),)] if single else []
    unique: list[Seq] = []
    for seq in merged + rest:
        if seq not in unique:
            unique.append(seq)
    return unique


@lru_cache(maxsize=8192)
def _compile(source: str, lists: Lists) -> tuple[tuple[Seq, ...], frozenset[str], frozenset[str]]:
    rec = _Recorder()
    seqs = []
    for seq in _parse(source, lists, rec):
        while seq and isinstance(seq[0], int):
            seq = seq[1:]
        while seq and isinstance(seq[-1], int):
            seq = seq[:-1]
        if not seq:
            continue
        if sum(isinstance(slot, int) for slot in seq) > MAX_GAPS:
            raise PhraseError(f"at most {MAX_GAPS} '...' in one phrase")
        seqs.append(seq)
    if not seqs:
        raise PhraseError("the phrase has no words (filler words like 'really' do not count)")
    return tuple(seqs), frozenset(rec.words), frozenset(rec.stems)


def compile_phrase(source: str, lists: Mapping[str, Sequence[str]] | Lists,
                   vocab: Vocabulary | None = None) -> list[Seq]:
    """Return the plain sequences of a phrase (registering its words in `vocab`).

    PhraseError says what is wrong with it. Compiling is cached, so checking a
    file and then building its screen compiles each phrase once.
    """
    seqs, used, stems = _compile(source, lists if isinstance(lists, Lists) else Lists(lists))
    if vocab is not None:
        for word in used:
            vocab.add(word)
        for stem in stems:
            vocab.add_stem(stem)
    return list(seqs)
