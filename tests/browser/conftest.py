"""Browser fixtures: Debian's Chromium driven by Playwright against the real app in a thread."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from bot import create_app
from bot.services import Services
from tests.conftest import need

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def chromium_path() -> str:
    """Return the Chromium binary to drive, or skip (fail under CI) if there is none."""
    path = os.environ.get("PEERLINE_TEST_CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(path):
        need(f"Chromium not found at {path} (apt-get install chromium, "
             "or set PEERLINE_TEST_CHROMIUM)")
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole run."""
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("the playwright Python package is not installed (pip install -e '.[test]')")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=path, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


class LiveServer:
    """The real WSGI app served on 127.0.0.1 on a free port, in a background thread."""

    def __init__(self, app: Any):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def live(services: Services) -> Iterator[LiveServer]:
    """Serve create_app(services=...) (FrozenClock, RecordingSender, temp SQLite)."""
    app = create_app(services=services)
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def page_for(browser: Any) -> Iterator[Any]:
    """Return a factory of fresh pages (own cookies) at a given viewport size."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] = DESKTOP, **options: Any) -> Any:
        context = browser.new_context(viewport=viewport, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def log_in(page: Any, base: str, username: str, password: str) -> None:
    """Log in through the form, as a person would."""
    page.goto(base + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")
