"""Load flows/safety.yaml into the safety screen (SPEC §6.3, §10).

Rules:
- The screen itself is bot.flows.safety_matcher (tiers, families, the
  previous-text join); its text normalising is bot.flows.safety_text, its
  phrase syntax bot.flows.safety_phrases, finding phrases in a text
  bot.flows.safety_rules and the tier from the matches
  bot.flows.safety_verdict. This module re-exports the names
  callers use (SafetyMatcher, Tier, Verdict).
- Every problem of the file is a FILE:LINE problem, never a traceback: an
  unknown key, a tier that is not crisis/concern/none, a phrase that does
  not compile (unclosed bracket, unknown <list>, too short a word start),
  a bad regular expression, a reply without the Veterans Crisis Line, a
  text that is not GSM-7, or a file with no crisis rule at all.
- `learned_layer: no` switches off the learned second layer
  (bot.flows.safety_model); absent or `yes`, it is on (its model file is read
  here, once, so the first text does not wait for it). Anything else is a
  problem.
- A file with any problem is refused whole (the caller keeps the last good
  screen, or the built-in one: crisis detection is never off).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.flows import safety_builtin as builtin
from bot.flows.safety_matcher import Family, SafetyMatcher, Tier, Verdict
from bot.flows.safety_model import load_model
from bot.flows.safety_phrases import Lists, PhraseError, compile_phrase
from bot.flows.yamlio import Report, check_keys, item_line, key_line, load_yaml, node_line

__all__ = ["SafetyMatcher", "Tier", "Verdict", "Family", "load_safety", "SAFETY_KEYS"]

SAFETY_KEYS = ("reply", "concern_reply", "concern_no_reply", "lists", "families", "phrases",
               "concern_phrases", "patterns", "exceptions", "learned_layer")
FAMILY_KEYS = ("tier", "phrases", "patterns", "context")
_GSM = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
           "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€")


def _text(doc: Any, key: str, default: str, must: tuple[str, ...], report: Report) -> str:
    """Return the text under `key`, checked: non-empty, GSM-7, containing each of `must`."""
    if key not in doc:
        return default
    value = doc.get(key)
    line = key_line(doc, key)
    if not isinstance(value, str) or not value.strip():
        report.add(line, f"{key} must be a text")
        return default
    value = " ".join(value.split())
    if any(part not in value for part in must if part != "YES or NO"):
        report.add(line, f"{key} must give the Veterans Crisis Line: dial 988 then press 1; "
                   "text 838255")
    if "YES or NO" in must and "YES or NO" not in value:
        report.add(line, f"{key} must ask directly, once: \"Are you thinking about killing "
                   "yourself? Reply YES or NO\"")
    odd = sorted({ch for ch in value if ch not in _GSM})
    if odd:
        report.add(line, f"{key} has characters a basic phone cannot show ({''.join(odd)}); "
                   "use plain quotes, '...' and no emoji")
    if key == "reply" and "coach" in value.lower():
        report.add(line, "reply must not say who was told; PeerLine adds that sentence only "
                   "when it is true")
    return value


def _strings(doc: Any, key: str, report: Report) -> list[tuple[str, int]]:
    """Return the non-empty texts listed under `key`, with their lines."""
    items = doc.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        report.add(key_line(doc, key), f"{key} must be a list")
        return []
    out = []
    for index, item in enumerate(items):
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip():
            report.add(item_line(items, index), f"each of {key} must be non-empty text")
            continue
        out.append((item, item_line(items, index)))
    return out


def _lists(doc: Any, report: Report) -> dict[str, tuple[str, ...]]:
    lists = doc.get("lists")
    if lists is None:
        return {}
    if not isinstance(lists, dict):
        report.add(key_line(doc, "lists"), "lists must map a name to a list of words")
        return {}
    out = {}
    for name in lists:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", str(name)):
            report.add(key_line(lists, name), f"list name '{name}' must be lower-case letters, "
                       "digits and _")
            continue
        out[str(name)] = tuple(text for text, _ in _strings(lists, name, report))
    return out


def _phrases(doc: Any, key: str, lists: dict[str, tuple[str, ...]], report: Report) -> tuple[
        str, ...]:
    """Return the phrases under `key` that compile; report the others at their line."""
    good = []
    for text, line in _strings(doc, key, report):
        try:
            compile_phrase(text, Lists(lists))
        except PhraseError as exc:
            report.add(line, f"phrase {text!r}: {exc}")
            continue
        good.append(text)
    return tuple(good)


def _patterns(doc: Any, report: Report) -> tuple[str, ...]:
    good = []
    for text, line in _strings(doc, "patterns", report):
        try:
            re.compile(text)
        except re.error as exc:
            report.add(line, f"bad pattern {text!r}: {exc}")
            continue
        good.append(text)
    return tuple(good)


def _families(doc: Any, lists: dict[str, tuple[str, ...]], report: Report) -> list[Family]:
    families = doc.get("families")
    if families is None:
        return []
    if not isinstance(families, dict):
        report.add(key_line(doc, "families"), "families must map a family name to its tier "
                   "and phrases")
        return []
    out = []
    for name, body in families.items():
        line = key_line(families, name)
        if not isinstance(body, dict):
            report.add(line, f"family '{name}' must have tier: and phrases:")
            continue
        check_keys(body, FAMILY_KEYS, f"family '{name}'", report)
        tier = body.get("tier")
        if tier not in ("crisis", "concern", "none"):
            report.add(key_line(body, "tier") if "tier" in body else line,
                       f"family '{name}': tier must be crisis, concern or none")
            continue
        context = {True: True, False: False, "yes": True, "no": False}.get(
            body.get("context", False), None)
        if context is None:
            report.add(key_line(body, "context"), f"family '{name}': context must be yes or no")
            context = False
        phrases = _phrases(body, "phrases", lists, report)
        patterns = _patterns(body, report)
        if not body.get("phrases") and not body.get("patterns"):
            report.add(line, f"family '{name}' has no phrases")
        out.append(Family(str(name), Tier(tier), phrases, patterns, context))
    return out


_LOADED: dict[tuple[str, bytes], SafetyMatcher] = {}  # good files by path and bytes


def load_safety(path: Path) -> tuple[SafetyMatcher | None, Report]:
    """Load safety.yaml; None (with problems in the report) if it is not usable.

    A file whose bytes were loaded before gives the same (immutable) screen
    without compiling it again.
    """
    try:
        key = (str(path), path.read_bytes())
    except OSError:
        key = None
    if key is not None and key in _LOADED:
        return _LOADED[key], Report(str(path))
    matcher, report = _load(path)
    if matcher is not None and key is not None:
        if len(_LOADED) >= 8:
            _LOADED.clear()
        _LOADED[key] = matcher
    return matcher, report


def _load(path: Path) -> tuple[SafetyMatcher | None, Report]:
    report = Report(str(path))
    doc = load_yaml(path, report)
    if doc is None:
        if not report.problems:  # empty, or comments only: crisis checks must not go quiet
            report.add(1, "the file is empty; safety.yaml needs reply and phrases")
        return None, report
    if not isinstance(doc, dict):
        report.add(1, "safety.yaml must be a mapping with reply, families and lists")
        return None, report
    check_keys(doc, SAFETY_KEYS, "safety.yaml", report)
    if "reply" not in doc:
        report.add(1, "reply must be the crisis text")
    reply = _text(doc, "reply", builtin.REPLY, ("988", "838255"), report)
    concern_reply = _text(doc, "concern_reply", builtin.CONCERN_REPLY,
                          ("988", "838255", "YES or NO"), report)
    concern_no = _text(doc, "concern_no_reply", builtin.CONCERN_NO_REPLY, ("988",), report)
    lists = _lists(doc, report)
    families = _families(doc, lists, report)
    phrases = _phrases(doc, "phrases", lists, report)
    patterns = _patterns(doc, report)
    if not phrases and not patterns and not any(f.tier is Tier.CRISIS for f in families):
        where = key_line(doc, "families") if "families" in doc else (
            key_line(doc, "phrases") if "phrases" in doc else node_line(doc))
        report.add(where, "phrases must list the crisis phrases (or a family with tier: crisis)")
    learned = {True: True, False: False, "yes": True, "no": False}.get(
        doc.get("learned_layer", True), None)
    if learned is None:
        report.add(key_line(doc, "learned_layer"), "learned_layer must be yes or no")
    exceptions = _phrases(doc, "exceptions", lists, report)
    concern_phrases = _phrases(doc, "concern_phrases", lists, report)
    if report.problems:
        return None, report
    if learned:
        load_model()  # read once, now
    matcher = SafetyMatcher(
        reply=reply, phrases=phrases, patterns=patterns,
        exceptions=exceptions, concern_reply=concern_reply, concern_no_reply=concern_no,
        concern_phrases=concern_phrases, families=tuple(families), lists=tuple(lists.items()),
        learned_layer=bool(learned))
    return matcher, report
