"""Point a broken `{{ }}` at the line it is on, and say the fix in plain words.

Rules: a template written as a folded YAML block (`say: >-`) is one line to
Jinja, so its error names only the key's line; this finds the file line that
holds the unbalanced `{{` and says what closes it.
"""

from __future__ import annotations

import re
from pathlib import Path


def broken_expression(source: str) -> str | None:
    """Return the first `{{ ...` that is not closed with `}}`, else None."""
    for match in re.finditer(r"\{\{", source):
        rest = source[match.end():]
        close = rest.find("}}")
        nxt = rest.find("{{")
        if close == -1 or (nxt != -1 and nxt < close) or "}" in rest[:close]:
            single = rest.find("}")
            end = single + 1 if single != -1 and (nxt == -1 or single < nxt) else len(rest)
            return ("{{" + rest[:end]).strip()
    return None


def locate(path: str, line: int, source: str, message: str) -> tuple[int, str]:
    """Return (line, message) for a bad template: its own file line and a plain fix if known."""
    fragment = broken_expression(source)
    if fragment is None:
        return line, message
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    needle = fragment.split()[0:2]
    found = line
    for number in range(line, min(len(lines), line + 60) + 1):
        text = lines[number - 1]
        if "{{" in text and all(word in text for word in needle):
            found = number
            break
    return found, (f"{fragment!r} is not closed: every '{{{{' needs '}}}}' (two closing "
                   f"braces), e.g. {{{{ participant.first_name }}}}")
