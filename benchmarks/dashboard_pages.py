"""The dashboard benchmark's pages: which it times, as whom, and which routes it misses.

Rules:
- Baselines come first (the login page, /healthz): a page's ratio is to the login page.
- An `optional` page is one some versions lack: skipped there, and said so.
- A dashboard GET route no page visits is listed after the table, so new pages show up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dashboard_data import Program
from werkzeug.exceptions import HTTPException


@dataclass(frozen=True)
class Page:
    """A page to time: who fetches it, how, and what it is called in the output."""

    name: str
    title: str
    user: str | None  # "staff", "big", "small" or None (signed out)
    path: str
    export: bool = False
    baseline: bool = False
    optional: bool = False  # a page some versions do not have: skipped there, and said so


def pages(program: Program) -> list[Page]:
    """Return every page to time, baselines first."""
    vid, eid = program.veteran_id, program.escalation_id
    big, small = program.big_veterans, program.small_veterans
    found = [
        Page("login", "baseline: login page (no database)", None, "/login", baseline=True),
        Page("healthz", "baseline: /healthz (one SELECT)", None, "/healthz", baseline=True),
        Page("coach-home-small", f"coach home, {small} veterans", "small", "/"),
        Page("coach-home-big", f"coach home, {big} veterans", "big", "/"),
        Page("staff-home", "staff home", "staff", "/"),
        Page("everyone", "staff \"Everyone\"", "staff", "/staff/"),
        Page("everyone-search", "staff \"Everyone\", search \"garcia\"", "staff",
             "/staff/?q=garcia"),
        Page("everyone-last", "staff \"Everyone\", page 66", "staff", "/staff/?page=66"),
        Page("staff-home-search", "staff home, search \"garcia\"", "staff", "/?q=garcia"),
        Page("reassign", "reassign one veteran (form)", "staff",
             f"/staff/veterans/{vid}/reassign", optional=True),
        Page("veteran", "veteran page (own coach)", "small", f"/veterans/{vid}"),
        Page("veteran-staff", "veteran page (staff)", "staff", f"/veterans/{vid}"),
        Page("veteran-older", "veteran page, older texts (page 5)", "small",
             f"/veterans/{vid}?page=5"),
        Page("escalation", "an open escalation", "small", f"/escalations/{eid}"),
        Page("inbox-big", f"inbox, coach of {big}", "big", "/inbox"),
        Page("inbox-staff", "inbox, staff (everyone's)", "staff", "/inbox"),
        Page("audit", "audit log", "staff", "/staff/audit"),
        Page("failed", "failed sends", "staff", "/staff/failed"),
        Page("fidelity", "fidelity", "staff", "/staff/fidelity"),
        Page("flows", "program files (flows)", "staff", "/staff/flows"),
        Page("exports-page", "exports page", "staff", "/staff/exports"),
        Page("enrol-form", "enrol a veteran (form)", "staff", "/staff/veterans/new"),
        Page("password", "change password (form)", "small", "/account/password"),
    ]
    for kind in ("messages", "checkins", "peg", "escalations", "fidelity"):
        found.append(Page(f"export-{kind}", f"web export: {kind}", "staff",
                          f"/staff/exports/{kind}", export=True))
    return found


def has_route(routes: Any, path: str) -> bool:
    """Tell whether the app answers GET `path`."""
    try:
        routes.match(path.split("?")[0], method="GET")
    except HTTPException:
        return False
    return True


def untimed_routes(app: Any, timed: list[Page]) -> list[str]:
    """Return dashboard GET routes this benchmark does not visit (new pages show up here)."""
    paths = {re.sub(r"\d+", "<int>", p.path.split("?")[0]) for p in timed}
    missing = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.endpoint.endswith("static"):
            continue
        shape = re.sub(r"<[^>]+>", "<int>", rule.rule)
        if shape not in paths and not shape.startswith(("/sms", "/metrics", "/dashboard-")):
            missing.append(rule.rule)
    return sorted(missing)
