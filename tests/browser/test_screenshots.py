"""Coach home and a veteran's page fit a phone and a desktop; PNGs for docs/ on request.

Write the screenshots with:
    PEERLINE_TEST_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/browser/test_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bot.services import Services
from tests.browser.conftest import DESKTOP, PHONE, log_in
from tests.browser.showcase import seed_showcase

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


def _out_dir() -> Path | None:
    target = os.environ.get("PEERLINE_TEST_SCREENSHOTS")
    if not target:
        return None
    path = Path(target) if os.path.isabs(target) else ROOT / target
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_pages_fit_and_screenshots(services: Services, live: Any, page_for: Any,
                                   size: str) -> None:
    ids = seed_showcase(services)
    page = page_for(PHONE if size == "phone" else DESKTOP,
                    device_scale_factor=1.5 if size == "phone" else 1)
    log_in(page, live.url, "coach", "peerline-demo")
    out = _out_dir()
    for name, path in (("home", "/"), ("inbox", "/inbox"),
                       ("veteran", f"/veterans/{ids['sam']}"),
                       ("escalation", f"/escalations/{ids['crisis']}")):
        page.goto(live.url + path)
        # Nothing may force sideways scrolling on a phone.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the {size} viewport"
        # Every button and link-button is a comfortable tap target.
        small = page.evaluate("""() => [...document.querySelectorAll(
            'button, .button, details.edit > summary, .top nav a')]
            .filter(e => e.offsetParent !== null)
            .map(e => e.getBoundingClientRect())
            .filter(r => r.height < 44).length""")
        assert small == 0, f"{small} tap targets under 44px on {path}"
        if out is not None:
            page.screenshot(path=str(out / f"{name}-{size}.png"), full_page=True)
    page.goto(live.url + "/")
    first_alert = page.locator("[data-escalation]").first
    assert "URGENT" in first_alert.inner_text()


def test_staff_tables_scroll_sideways_with_a_cue_on_a_phone(services: Services, live: Any,
                                                            page_for: Any) -> None:
    seed_showcase(services)
    page = page_for(PHONE, device_scale_factor=1.5)
    log_in(page, live.url, "staff", "peerline-demo")
    for path in ("/staff/", "/staff/audit"):
        page.goto(live.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
        wrap = page.locator(".table-wrap.wide").first
        assert wrap.evaluate("w => w.scrollWidth > w.clientWidth"), path  # it scrolls...
        cue = wrap.evaluate("w => getComputedStyle(w, '::before').content")
        assert "Swipe the table sideways" in cue, path  # ...and says so
    page.goto(live.url + "/staff/")
    out = _out_dir()
    if out is not None:
        page.screenshot(path=str(out / "staff-phone.png"), full_page=False)
