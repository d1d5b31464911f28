"""Recognise the consent keywords of SPEC §6.2: whole-message STOP, START and HELP words."""

from __future__ import annotations

import re
import unicodedata

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
                        "OPTOUT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})

_EDGE = re.compile(r"^[\W_]+|[\W_]+$", re.UNICODE)


def normalize_keyword(text: str) -> str:
    """Return the message upper-cased, stripped of surrounding spaces and punctuation."""
    folded = unicodedata.normalize("NFKC", text or "")
    return _EDGE.sub("", folded.strip()).upper()


def consent_keyword(text: str) -> str | None:
    """Return "stop", "start" or "help" when the whole message is such a word, else None."""
    word = normalize_keyword(text)
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None
