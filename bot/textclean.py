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
