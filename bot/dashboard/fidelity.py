"""Staff's fidelity page (SPEC 12): per coach, per month, with a plot of contact-target pairs.

Rules:
- Staff only, like every staff page; the same numbers as `peerline export fidelity`
  (bot.fidelity computes both).
- Twenty coaches to a page (each is a chart and a table of months), by name; only
  the page's coaches are worked out.
- The plot never relies on colour: each bar carries its percent as text, and the
  table under it gives every number.
"""

from __future__ import annotations

from flask import Flask, render_template
from markupsafe import Markup, escape

from bot.dashboard.common import blueprint, now, services, staff_required
from bot.dashboard.paging import counted, page_arg
from bot.dashboard.queries import names
from bot.domain.fidelity import CONTACTS_FROM, FidelityRow, coaches_with_rows, fidelity_rows

bp = blueprint("fidelity", __name__, url_prefix="/staff")
COACHES_PER_PAGE = 20  # each coach is a chart and a table of months


def met_share(row: FidelityRow) -> int | None:
    """Return the percent of the coach's judged pairs that met contact_every, or None."""
    return round(100 * row.pairs_met / row.pairs_judged) if row.pairs_judged else None


def bars_svg(name: str, rows: list[FidelityRow]) -> Markup:
    """Return one coach's bar chart: percent of pairs meeting the contact target, by month."""
    width, height, left, bottom, top = 360, 150, 34, 26, 12
    plot_h = height - bottom - top
    slot = (width - left - 8) / max(1, len(rows))
    label = escape(f"{name}: pairs that met the contact target, by month: " + ", ".join(
        f"{r.month} {met_share(r) if met_share(r) is not None else '-'}%" for r in rows))
    parts: list[str] = [f'<svg class="fidelity-chart" viewBox="0 0 {width} {height}" '
                        f'role="img" aria-label="{label}">']
    for tick in (0, 50, 100):
        y = top + plot_h * (1 - tick / 100)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" '
                     f'stroke="#d5d8dc"/><text x="{left - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end" font-size="11" fill="#3b4148">{tick}%</text>')
    for index, row in enumerate(rows):
        share = met_share(row)
        x = left + index * slot + slot * 0.15
        label_x = x + slot * 0.35
        if share is not None:
            bar_h = plot_h * share / 100
            parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" '
                         f'width="{slot * 0.7:.1f}" height="{bar_h:.1f}" fill="#1f4e8c"/>'
                         f'<text x="{label_x:.1f}" y="{top + plot_h - bar_h - 3:.1f}" '
                         f'text-anchor="middle" font-size="10" fill="#3b4148">{share}%</text>')
        parts.append(f'<text x="{label_x:.1f}" y="{height - 8}" text-anchor="middle" '
                     f'font-size="10" fill="#3b4148">{escape(row.month[2:])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


@bp.get("/fidelity")
@staff_required
def fidelity() -> str:
    """Show each coach's months: contacts, the contact target, acknowledgements, drafts, PEG."""
    with services().db.reading() as db:
        # Only the page's coaches are worked out: their rows do not depend on anyone else's.
        listed = coaches_with_rows(db, services().config, now())
        people = names(db, set[int | None](listed))
        order = sorted(listed, key=lambda coach_id: (people.get(coach_id, ""), coach_id))
        pager = counted("page", page_arg(), len(order), COACHES_PER_PAGE)
        shown = order[pager.offset:pager.offset + COACHES_PER_PAGE]
        by_coach: dict[int, list[FidelityRow]] = {coach_id: [] for coach_id in shown}
        for row in fidelity_rows(db, services().config, now(), coach_ids=shown):
            if row.level == "coach":
                by_coach[row.coach_id].append(row)
    coaches = list(by_coach.items())
    return render_template("staff/fidelity.html", coaches=coaches, people=people, pager=pager,
                           bars=bars_svg, share=met_share, contacts_from=CONTACTS_FROM,
                           every=services().config.program.contact_every)


def init_app(app: Flask) -> None:
    """Register the fidelity page."""
    app.register_blueprint(bp)
