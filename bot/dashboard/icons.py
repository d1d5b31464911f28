"""The dashboard's icons as inline SVG: they draw on every phone, with or without emoji fonts.

Rules: an icon is decoration beside words that say the same thing, so each
SVG is aria-hidden and the words stay; sizes follow the text (1em) and the
colour is the text's (currentColor). Templates call `icon('check')`; the
legacy symbols (e.g. the delivery states' "✓✓") map to the same drawings.
"""

from __future__ import annotations

from markupsafe import Markup

_PATHS = {
    "check": '<path d="M3 8.5l3.2 3.2L13 4.8" fill="none" stroke="currentColor" '
             'stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/>',
    "double-check": '<path d="M1 8.5l3 3L10 5M6.5 11.5L14.5 4" fill="none" '
                    'stroke="currentColor" stroke-width="1.8" stroke-linecap="round" '
                    'stroke-linejoin="round"/>',
    "clock": '<circle cx="8" cy="8" r="6.2" fill="none" stroke="currentColor" '
             'stroke-width="1.6"/><path d="M8 4.5V8l2.5 1.6" fill="none" stroke="currentColor" '
             'stroke-width="1.6" stroke-linecap="round"/>',
    "warn": '<path d="M8 1.8L15 14H1z" fill="none" stroke="currentColor" stroke-width="1.6" '
            'stroke-linejoin="round"/><path d="M8 6.2v3.6" stroke="currentColor" '
            'stroke-width="1.8" stroke-linecap="round"/><circle cx="8" cy="11.9" r="1" '
            'fill="currentColor"/>',
    "cross": '<path d="M4 4l8 8M12 4l-8 8" stroke="currentColor" stroke-width="2" '
             'stroke-linecap="round"/>',
    "pause": '<path d="M5.5 3.5v9M10.5 3.5v9" stroke="currentColor" stroke-width="2.2" '
             'stroke-linecap="round"/>',
    "play": '<path d="M5 3.2v9.6L13 8z" fill="currentColor"/>',
    "dot": '<circle cx="8" cy="8" r="4" fill="currentColor"/>',
    "blocked": '<circle cx="8" cy="8" r="6" fill="none" stroke="currentColor" '
               'stroke-width="1.8"/><path d="M3.8 12.2l8.4-8.4" stroke="currentColor" '
               'stroke-width="1.8"/>',
    "back": '<path d="M10 3.5L5.5 8l4.5 4.5" fill="none" stroke="currentColor" '
            'stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/>',
}
SYMBOLS = {"✓": "check", "✓✓": "double-check", "⏳": "clock", "⚠": "warn", "✕": "cross",
           "‖": "pause", "▶": "play", "●": "dot", "⊘": "blocked", "←": "back"}


def icon(name: str) -> Markup:
    """Return the inline SVG for `name` (or a legacy symbol); empty for an unknown one."""
    path = _PATHS.get(SYMBOLS.get(name, name))
    if path is None:
        return Markup("")
    return Markup(f'<svg class="icon icon-{SYMBOLS.get(name, name)}" viewBox="0 0 16 16" '
                  f'width="1em" height="1em" aria-hidden="true" focusable="false">{path}</svg>')
