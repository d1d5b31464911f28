"""Control characters: refused in what people type, dropped where XML cannot carry them.

Rules:
- Tab, newline and carriage return are ordinary text; every other C0 control, DEL
  and the C1 controls are not (NUL breaks PostgreSQL, most break XML 1.0).
- XML 1.0 also forbids the surrogates and U+FFFE/U+FFFF; `xml_safe` drops them all.
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def has_control(text: str) -> bool:
    """Tell whether `text` holds a control character other than tab, newline or CR."""
    return _CONTROL.search(text) is not None


def strip_control(text: str) -> str:
    """Return `text` without control characters (tab, newline and CR kept)."""
    return _CONTROL.sub("", text)


def xml_safe(text: str) -> str:
    """Return `text` without the characters XML 1.0 forbids."""
    return _NOT_XML.sub("", text)


# Plain GSM-7 stand-ins for characters phones and editors put in by themselves; one of
# these in a text makes the whole text UCS-2 (70 characters a segment instead of 160).
_GSM_PLAIN = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\u00a0": " ", "\u2007": " ", "\u2009": " ", "\u202f": " ",
    "\u2026": "...", "\u2022": "-", "\u200b": "",
})


def outgoing(text: str) -> str:
    """Return `text` as it is sent and stored: no control characters, plain GSM where possible."""
    return strip_control(xml_safe(text)).translate(_GSM_PLAIN)
