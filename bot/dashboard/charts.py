"""Weekly PEG scores (pain, enjoyment, general activity) and their server-side SVG charts.

The charts never rely on colour: each series has its own marker shape and line
pattern, and the pages print the numbers beside them. Answers become check-ins
in one place, bot.domain.peg.checkins; the weeks here are built from those.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from markupsafe import Markup, escape

from bot.domain.peg import checkins, peg_item

ITEMS = ("pain", "enjoyment", "activity")
LABELS = {"pain": "Pain", "enjoyment": "Enjoyment of life", "activity": "General activity"}
# Dark, distinct colours (all ≥ 4.5:1 on white) plus shape and dash for colour-blind readers.
__all__ = ["peg_item"]  # re-exported: pages and tests name PEG items from here
STYLE = {
    "pain": {"colour": "#8a2c0d", "dash": "", "marker": "circle"},
    "enjoyment": {"colour": "#1f4e8c", "dash": "6 4", "marker": "square"},
    "activity": {"colour": "#3d5a1e", "dash": "2 3", "marker": "triangle"},
}
@dataclass
class Week:
    """One week's latest PEG answers (in the veteran's local calendar)."""

    start: date
    values: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float | None:
        """The PEG score (mean of the three items) when all three were answered."""
        if all(item in self.values for item in ITEMS):
            return round(sum(self.values[i] for i in ITEMS) / 3, 1)
        return None

    @property
    def headline(self) -> float | None:
        """The PEG score, or the pain rating when only part of the PEG was answered."""
        score = self.score
        return score if score is not None else self.values.get("pain")


def weekly_peg(answers: Iterable[Any], tz: str, weeks: int = 12) -> list[Week]:
    """Group check-in answers by local week (Monday first); keep the latest per item."""
    by_week: dict[date, Week] = {}
    for checkin in checkins(answers, tz):
        start = checkin.day - timedelta(days=checkin.day.weekday())
        by_week.setdefault(start, Week(start)).values.update(checkin.values)
    return [by_week[k] for k in sorted(by_week)][-weeks:]


def peg_checkins(answers: Iterable[Any], tz: str, limit: int = 24) -> list[Week]:
    """Return one row per check-in (bot.domain.peg.checkins), dated by its local day.

    The chart keeps one point per week; the table shows every check-in, so a
    hard-week check-in stays visible when the veteran checks in again that week.
    """
    return [Week(c.day, dict(c.values)) for c in checkins(answers, tz)][-limit:]


def fmt(value: float | None) -> str:
    """Show 7.0 as 7 and 6.33 as 6.3; None as a dash."""
    if value is None:
        return "–"
    return f"{value:.1f}".removesuffix(".0")


def _marker(kind: str, x: float, y: float, colour: str, title: str) -> str:
    tip = f"<title>{escape(title)}</title>"
    if kind == "square":
        return (f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
                f'fill="{colour}">{tip}</rect>')
    if kind == "triangle":
        points = f"{x:.1f},{y - 5.5:.1f} {x - 5:.1f},{y + 4:.1f} {x + 5:.1f},{y + 4:.1f}"
        return f'<polygon points="{points}" fill="{colour}">{tip}</polygon>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">{tip}</circle>'


def legend_svg(item: str) -> Markup:
    """Return a small legend sample (line pattern and marker) for one PEG item."""
    style = STYLE[item]
    dash = f' stroke-dasharray="{style["dash"]}"' if style["dash"] else ""
    return Markup(
        f'<svg class="legend-sample" width="36" height="14" viewBox="0 0 36 14" aria-hidden="true">'
        f'<line x1="1" y1="7" x2="35" y2="7" stroke="{style["colour"]}" stroke-width="2.5"{dash}/>'
        f'{_marker(style["marker"], 18, 7, style["colour"], "")}</svg>'
    )


def peg_chart_svg(weeks: list[Week], first_name: str, baseline: float | None = None) -> Markup:
    """Return a line chart of the PEG items by week, 0–10, with the baseline PEG marked."""
    if not weeks:
        return Markup("")
    width, height = 380, 210
    left, right, top, bottom = 28, 12, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(1, len(weeks) - 1)

    def xy(index: int, value: float) -> tuple[float, float]:
        x = left + (index * step if len(weeks) > 1 else plot_w / 2)
        return x, top + plot_h * (1 - value / 10)

    parts = [
        f'<svg class="peg-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="peg-title peg-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="peg-title">{escape(first_name)}\'s weekly PEG answers, 0 to 10</title>',
        '<desc id="peg-desc">' + escape(
            (f"Baseline PEG {fmt(baseline)}. " if baseline is not None else "") + "; ".join(
            f"week of {w.start:%-d %b}: " + ", ".join(
                f"{LABELS[i].lower()} {fmt(w.values.get(i))}" for i in ITEMS)
            for w in weeks)) + "</desc>",
    ]
    for tick in range(0, 11, 2):
        _, y = xy(0, tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     f'stroke="#d5d8dc" stroke-width="1"/>')
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="11" fill="#3b4148">{tick}</text>')
    if baseline is not None:
        _, y = xy(0, baseline)
        parts.append(f'<line class="baseline" x1="{left}" y1="{y:.1f}" x2="{width - right}" '
                     f'y2="{y:.1f}" stroke="#3b4148" stroke-width="1.5" stroke-dasharray="8 3">'
                     f'<title>Baseline PEG {fmt(baseline)}</title></line>')
        parts.append(f'<text x="{width - right}" y="{y - 4:.1f}" text-anchor="end" '
                     f'font-size="11" fill="#3b4148">baseline {fmt(baseline)}</text>')
    every = max(1, (len(weeks) + 3) // 4)
    for index, week in enumerate(weeks):
        last = index == len(weeks) - 1
        if (index % every == 0 and len(weeks) - 1 - index >= every) or last:
            x, _ = xy(index, 0)
            anchor = "end" if last and len(weeks) > 1 else "middle"
            parts.append(f'<text x="{x + (6 if anchor == "end" else 0):.1f}" y="{height - 10}" '
                         f'text-anchor="{anchor}" '
                         f'font-size="11" fill="#3b4148">{week.start:%-d %b}</text>')
    for item in ITEMS:
        style = STYLE[item]
        points = [(i, w.values[item]) for i, w in enumerate(weeks) if item in w.values]
        if not points:
            continue
        dash = f' stroke-dasharray="{style["dash"]}"' if style["dash"] else ""
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in points))
        parts.append(f'<polyline points="{path}" fill="none" stroke="{style["colour"]}" '
                     f'stroke-width="2.5"{dash}/>')
        for i, value in points:
            x, y = xy(i, value)
            title = f"{LABELS[item]}, week of {weeks[i].start:%-d %b}: {fmt(value)}"
            parts.append(_marker(style["marker"], x, y, style["colour"], title))
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline_svg(weeks: list[Week], first_name: str) -> Markup:
    """Return a small line of weekly headline scores (PEG, or pain) for the veterans list."""
    values = [(i, w.headline) for i, w in enumerate(weeks) if w.headline is not None]
    if not values:
        return Markup("")
    width, height, pad = 112, 36, 5
    step = (width - 2 * pad) / max(1, len(weeks) - 1)

    def xy(index: int, value: float) -> tuple[float, float]:
        x = pad + (index * step if len(weeks) > 1 else (width - 2 * pad) / 2)
        return x, pad + (height - 2 * pad) * (1 - value / 10)

    label = f"{first_name}'s weekly scores: " + ", ".join(fmt(v) for _, v in values)
    coords = [xy(i, v) for i, v in values]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    last_x, last_y = coords[-1]
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(label)}">'
        f'<line x1="0" y1="{height - pad}" x2="{width}" y2="{height - pad}" stroke="#d5d8dc"/>'
        f'<polyline points="{path}" fill="none" stroke="#1f4e8c" stroke-width="2"/>'
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="3.5" fill="#1f4e8c"/></svg>'
    )
