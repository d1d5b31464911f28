"""The safety screen's learned second layer: a logistic score over hashed n-grams.

Rules:
- The rules (bot.flows.safety_matcher) stay the always-on floor. This layer can
  only raise a verdict, never lower one: a text the rules call `none` whose
  score reaches the model file's concern threshold gets the concern tier (the
  crisis line and the direct YES/NO question, a human alerted on YES, NO or no
  answer). It never gives the crisis tier and never reads the previous text.
- It reads only texts of MIN_WORDS (5) normalised words or more: shorter ones
  ("no", "7", "stop", "between 3 and 5", "not yet i think") score 0, because a
  bag of n-grams reads a short ordinary reply by its few words and out of fold
  raised too many check-in answers; among 4-7, 5 and 6 kept the most recall
  with out-of-fold ordinary texts at 0.5 %, and 5 leaves fewer texts to the
  rules alone (docs/safety.md). Short crisis texts ("kms",
  "end it all", "i want to die") are the rules' alone.
- Features: the text's normalised words (bot.flows.safety_text.words, the same
  reading the rules get), joined by single spaces with a space at each end; the
  distinct character n-grams of lengths 3 to 5 of that string, and the distinct
  word unigrams and bigrams. Each feature is hashed with CRC-32 into BUCKETS
  buckets; the score is sigmoid(bias + sum of the features' bucket weights /
  sqrt(number of distinct features)).
- Weights, bias and thresholds come from one file, bot/flows/safety_model.bin
  (written by benchmarks/safety_model_train.py, which says what it was trained
  on), read once. Scoring is pure Python and deterministic. A missing or broken
  file switches the layer off (score 0.0), never the rules.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import sys
import zlib
from array import array
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.flows.safety_text import words

log = logging.getLogger(__name__)

MODEL_FILE = Path(__file__).with_name("safety_model.bin")
BUCKETS = 1 << 18
CHAR_SIZES = (3, 4, 5)
MIN_WORDS = 5


def features(text: str) -> list[int]:
    """Return the sorted distinct feature buckets of `text` (see the module rules)."""
    return token_features(words(text))


def token_features(tokens: list[str]) -> list[int]:
    """Return the sorted distinct feature buckets of a text's normalised words."""
    joined = f" {' '.join(tokens)} "
    names = {joined[i:i + n] for n in CHAR_SIZES for i in range(len(joined) - n + 1)}
    names.update(f"w {token}" for token in tokens)
    names.update(f"b {first} {second}" for first, second in zip(tokens, tokens[1:], strict=False))
    return sorted({zlib.crc32(name.encode("utf-8")) % BUCKETS for name in names})


@dataclass(frozen=True)
class Model:
    """Weights per bucket (times `scale`), the bias, the concern threshold and the file's notes."""

    weights: array
    bias: float
    concern_threshold: float
    scale: float
    notes: dict[str, object]

    def score(self, text: str) -> float:
        """Return the probability-like score of `text` being crisis or concern language."""
        tokens = words(text)
        if len(tokens) < MIN_WORDS:  # see the module rules
            return 0.0
        found = token_features(tokens)
        weights = self.weights
        total = sum(weights[bucket] for bucket in found) * self.scale
        logit = self.bias + total / math.sqrt(len(found))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))

    def raises(self, text: str) -> bool:
        """Tell whether the layer gives `text` (called none by the rules) the concern tier."""
        return self.score(text) >= self.concern_threshold


def encode(weights: list[int], bias: float, concern_threshold: float,
           notes: dict[str, object]) -> bytes:
    """Return the model file's bytes: a JSON header line, then BUCKETS int16 weights, gzipped."""
    packed = array("h", weights)
    if len(packed) != BUCKETS:
        raise ValueError(f"{len(packed)} weights, not {BUCKETS}")
    if sys.byteorder != "little":
        packed.byteswap()
    header = dict(notes, bias=bias, concern_threshold=concern_threshold, buckets=BUCKETS)
    return gzip.compress(json.dumps(header, sort_keys=True).encode("utf-8") + b"\n"
                         + packed.tobytes(), mtime=0)


def decode(data: bytes) -> Model:
    """Return the model in a model file's bytes (ValueError when it is not one)."""
    raw = gzip.decompress(data)
    line, _, body = raw.partition(b"\n")
    header = json.loads(line)
    if header.get("buckets") != BUCKETS or len(body) != 2 * BUCKETS:
        raise ValueError("the model file does not have this module's bucket count")
    weights = array("h")
    weights.frombytes(body)
    if sys.byteorder != "little":
        weights.byteswap()
    return Model(weights, float(header["bias"]), float(header["concern_threshold"]),
                 float(header["scale"]), header)


@lru_cache(maxsize=1)
def load_model(path: Path = MODEL_FILE) -> Model | None:
    """Return the committed model, read once; None (layer off, logged) if it cannot be read."""
    try:
        return decode(path.read_bytes())
    except (OSError, ValueError, KeyError, TypeError, EOFError, zlib.error) as exc:
        log.error("safety model %s unusable (%s); the learned layer is off", path.name, exc)
        return None
