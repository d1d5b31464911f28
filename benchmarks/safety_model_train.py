"""Train the safety screen's learned layer, choose its threshold, write bot/flows/safety_model.bin.

Run: .venv/bin/pip install numpy scikit-learn   (this script only; the bot never needs them)
     .venv/bin/python benchmarks/safety_model_train.py [--write] [--c 32]

Data (the only texts it reads for training): the tuning corpus
(tests/safety/*.yaml: crisis and concern are 1, none is 0), the examples of
tests/safety/mechanisms.tsv (crisis and flag are 1, none and notcrisis 0) and the
DEV splits of the held-out sets' single texts (tests/safety/heldout*/) and the
templated ordinary program texts of tests/safety/ordinary_train.py (label 0).
No TEST split text and no text of tests/safety/ordinary/ (the ordinary held-out
set) is trained on or printed; that file's hand-written DEV list is scored, never
trained on.

Model: logistic regression (scikit-learn, liblinear, balanced class weights) on
bot.flows.safety_model.features, the same pure-Python features the bot scores;
weights rounded to int16. The concern threshold is chosen from out-of-fold
scores (5 folds grouped by source, so a source's texts are never on both sides;
texts under MIN_WORDS words score 0, as the bot reads them):
the lowest threshold at which the model alone flags at most --max-idioms of the
out-of-fold idioms, --max-negatives of the hard negatives and --max-everyday of
the ordinary texts (mechanisms.tsv's "everyday" guards and the templated ones,
a template's texts in one fold), and at most --max-dev of the ordinary DEV list
scored by the final model. It
prints the out-of-fold figures at several thresholds, the chosen one, and the
rules' and the rules-plus-model figures on the dev splits.
--write writes the model file (with its training notes and check scores).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.flows import safety_model  # noqa: E402
from bot.flows.safety_text import words  # noqa: E402
from tests.safety.corpus import CORPUS_DIR, load_corpus  # noqa: E402
from tests.safety.heldout_set import SETS, folded, in_split, load_texts  # noqa: E402
from tests.safety.ordinary_train import DEV as ORDINARY_DEV  # noqa: E402
from tests.safety.ordinary_train import templated  # noqa: E402

MECHANISMS = CORPUS_DIR / "mechanisms.tsv"
POSITIVE_MECHANISMS = ("crisis", "flag")
# Texts whose check scores go in the file (written for this purpose, in no data set).
CHECK_TEXTS = ("my back is killing me today", "i dont see the point of anything anymore",
               "me muero de hambre hoy", "ya no quiero seguir aqui", "no", "")


class Example:
    """One training text: its label (1 flag, 0 not), group for the folds and kind."""

    def __init__(self, text: str, label: int, group: str, kind: str, language: str):
        self.text, self.label, self.group, self.kind, self.language = (
            text, label, group, kind, language)


def training_examples() -> list[Example]:
    """Return the corpus, the mechanism examples and the dev splits, each text once."""
    out: list[Example] = []
    for item in load_corpus():
        group = item.source if item.source != "authored" else f"authored/{item.family}"
        out.append(Example(item.text, int(item.positive), f"corpus/{group}",
                           "idiom" if item.family == "idiom" else
                           ("positive" if item.positive else "negative"), item.language))
    for line in MECHANISMS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        expected, mechanism, text = line.split("\t", 2)
        positive = expected in POSITIVE_MECHANISMS
        if mechanism == "everyday":  # one mechanism of many unrelated texts: spread it
            mechanism = f"everyday/{len(out) % 5}"
        out.append(Example(text, int(positive), f"mechanisms/{mechanism}",
                           "positive" if positive else
                           ("everyday" if mechanism.startswith("everyday") else "negative"), ""))
    for name, folder in SETS.items():
        for item in in_split(load_texts(folder), "dev"):
            out.append(Example(item.text, int(item.positive), f"{name}/{item.source}",
                               "idiom" if item.family == "idiom" else
                               ("positive" if item.positive else "negative"), item.language))
    for text, language, group in templated():
        out.append(Example(text, 0, group, "everyday", language))
    seen: set[str] = set()
    unique = []
    for example in out:
        key = folded(example.text)
        if key not in seen:
            seen.add(key)
            unique.append(example)
    return unique


def matrix(texts: list[str]) -> csr_matrix:
    """Return the feature matrix: each row the text's buckets, 1 / sqrt(count) each."""
    rows, cols, values = [], [], []
    for row, text in enumerate(texts):
        found = safety_model.features(text)
        rows.extend([row] * len(found))
        cols.extend(found)
        values.extend([1.0 / math.sqrt(len(found))] * len(found) if found else [])
    return csr_matrix((values, (rows, cols)), shape=(len(texts), safety_model.BUCKETS))


def fit(x: csr_matrix, y: np.ndarray, c: float) -> LogisticRegression:
    """Return the logistic regression fitted on `x`, `y`."""
    model = LogisticRegression(C=c, solver="liblinear", class_weight="balanced", max_iter=1000)
    return model.fit(x, y)


def out_of_fold(examples: list[Example], x: csr_matrix, y: np.ndarray, c: float) -> np.ndarray:
    """Return each example's score from a model that did not see its source group."""
    scores = np.zeros(len(examples))
    groups = [e.group for e in examples]
    for train, held in GroupKFold(n_splits=5).split(x, y, groups):
        scores[held] = fit(x[train], y[train], c).predict_proba(x[held])[:, 1]
    short = [i for i, e in enumerate(examples) if len(words(e.text)) < safety_model.MIN_WORDS]
    scores[short] = 0.0  # the layer does not read them (bot/flows/safety_model.py)
    return scores


def rates(examples: list[Example], scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Return the model-alone rates at `threshold`: recall per language, negatives, idioms."""
    flagged = scores >= threshold
    def share(chosen: list[int]) -> float:
        return float(np.mean(flagged[chosen])) if chosen else 0.0
    index = list(range(len(examples)))
    return {
        "recall en": share([i for i in index if examples[i].label and
                            examples[i].language == "en"]),
        "recall es": share([i for i in index if examples[i].label and
                            examples[i].language == "es"]),
        "recall all": share([i for i in index if examples[i].label]),
        "negatives": share([i for i in index if not examples[i].label
                            and examples[i].kind != "everyday"]),
        "everyday": share([i for i in index if examples[i].kind == "everyday"]),
        "idioms": share([i for i in index if examples[i].kind == "idiom"]),
    }


def choose(examples: list[Example], scores: np.ndarray, dev_scores: np.ndarray,
           limits: argparse.Namespace) -> float:
    """Return the lowest threshold (0.50-0.99) within the out-of-fold and ordinary-dev limits."""
    for threshold in np.arange(0.50, 0.995, 0.01):
        got = rates(examples, scores, float(threshold))
        if (got["idioms"] <= limits.max_idioms and got["negatives"] <= limits.max_negatives
                and got["everyday"] <= limits.max_everyday
                and float(np.mean(dev_scores >= threshold)) <= limits.max_dev):
            return round(float(threshold), 2)
    return 1.0


def final_scores(model: LogisticRegression, texts: tuple[str, ...]) -> np.ndarray:
    """Return the fitted model's scores of `texts`, 0 under MIN_WORDS words as the bot reads."""
    scores = model.predict_proba(matrix(list(texts)))[:, 1]
    short = [i for i, text in enumerate(texts) if len(words(text)) < safety_model.MIN_WORDS]
    scores[short] = 0.0
    return scores


def quantize(coef: np.ndarray) -> tuple[list[int], float]:
    """Return the weights as int16 and the scale that turns them back into floats."""
    scale = float(np.max(np.abs(coef))) / 32767 or 1.0
    return [int(v) for v in np.round(coef / scale).astype(np.int64)], scale


def check_scores(weights: list[int], scale: float, bias: float) -> list[list[object]]:
    """Return [text, score] for CHECK_TEXTS, computed with numpy from the rounded weights."""
    dense = np.asarray(weights, dtype=np.float64) * scale
    out: list[list[object]] = []
    for text in CHECK_TEXTS:
        found = safety_model.features(text)
        if len(words(text)) < safety_model.MIN_WORDS:
            out.append([text, 0.0])
            continue
        logit = bias + float(np.sum(dense[found])) / math.sqrt(len(found))
        out.append([text, 1.0 / (1.0 + math.exp(-logit))])
    return out


def main() -> None:
    """Train, cross-validate, choose the threshold, and write the model with --write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c", type=float, default=32.0, help="inverse regularisation strength")
    parser.add_argument("--max-idioms", type=float, default=0.01,
                        help="out-of-fold idioms the model alone may flag")
    parser.add_argument("--max-negatives", type=float, default=0.08,
                        help="out-of-fold hard negatives the model alone may flag")
    parser.add_argument("--max-everyday", type=float, default=0.005,
                        help="out-of-fold ordinary texts (mechanisms.tsv 'everyday') it may flag")
    parser.add_argument("--max-dev", type=float, default=0.0,
                        help="hand-written ordinary dev texts (never trained on) it may flag")
    parser.add_argument("--write", action="store_true", help="write bot/flows/safety_model.bin")
    args = parser.parse_args()
    examples = training_examples()
    print(f"{len(examples)} training texts: "
          + ", ".join(f"{k} {v}" for k, v in sorted(Counter(e.kind for e in examples).items()))
          + f"; {len({e.group for e in examples})} source groups")
    x = matrix([e.text for e in examples])
    y = np.asarray([e.label for e in examples])
    scores = out_of_fold(examples, x, y, args.c)
    print(f"\nout-of-fold, model alone (C={args.c}):")
    print(f"  {'threshold':>9} {'recall en':>9} {'recall es':>9} {'negatives':>9} {'idioms':>7}"
          f" {'everyday':>8}")
    for threshold in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        got = rates(examples, scores, threshold)
        print(f"  {threshold:9.2f} {got['recall en']:9.3f} {got['recall es']:9.3f} "
              f"{got['negatives']:9.3f} {got['idioms']:7.3f} {got['everyday']:8.3f}")
    final = fit(x, y, args.c)
    dev_scores = final_scores(final, ORDINARY_DEV)
    print(f"  ordinary dev ({len(ORDINARY_DEV)} hand-written, never trained on) flagged at "
          + ", ".join(f"{t}: {int(np.sum(dev_scores >= t))}" for t in (0.5, 0.7, 0.8, 0.9, 0.95)))
    threshold = choose(examples, scores, dev_scores, args)
    got = rates(examples, scores, threshold)
    print(f"chosen concern threshold {threshold} (out-of-fold idioms <= {args.max_idioms}, "
          f"hard negatives <= {args.max_negatives}, ordinary texts <= {args.max_everyday}): "
          f"recall en {got['recall en']:.3f}, es {got['recall es']:.3f}, negatives "
          f"{got['negatives']:.3f}, idioms {got['idioms']:.3f}, ordinary {got['everyday']:.3f}"
          f"; ordinary dev {int(np.sum(dev_scores >= threshold))}/{len(ORDINARY_DEV)}")
    weights, scale = quantize(final.coef_[0])
    bias = float(final.intercept_[0])
    print(f"{sum(1 for w in weights if w)} non-zero buckets of {safety_model.BUCKETS}")
    if args.write:
        notes: dict[str, object] = {
            "scale": scale, "c": args.c, "training_texts": len(examples),
            "trained_on": "tests/safety/*.yaml, tests/safety/mechanisms.tsv, "
                          "dev splits of tests/safety/heldout*/ (single texts), "
                          "tests/safety/ordinary_train.py templated()",
            "min_words": safety_model.MIN_WORDS,
            "threshold_rule": f"lowest with out-of-fold idioms <= {args.max_idioms}, hard "
                              f"negatives <= {args.max_negatives}, ordinary texts <= "
                              f"{args.max_everyday} (5 folds by source), ordinary dev <= "
                              f"{args.max_dev}",
            "check": check_scores(weights, scale, bias),
        }
        safety_model.MODEL_FILE.write_bytes(safety_model.encode(weights, bias, threshold, notes))
        print(f"wrote {safety_model.MODEL_FILE.relative_to(ROOT)} "
              f"({safety_model.MODEL_FILE.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
