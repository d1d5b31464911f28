"""The README's quick start and "try it" steps, walked as a newcomer would.

`make run PORT=...` in the background (reusing this checkout's .venv, on a
temporary database), the README's two chat scripts as subprocesses, then the
dashboard in Chromium: no timestamp of something that happened lies in the
future, no "in 2 days" wording, and the demo draft can still be approved.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import DESKTOP, log_in

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
PEERLINE = ROOT / ".venv" / "bin" / "peerline"
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Every <time> on a page except a draft's "Goes out" (a plan, rightly ahead).
PAST_TIMES = """() => [...document.querySelectorAll('time')]
  .filter(t => !(t.closest('dd') && t.closest('dd').previousElementSibling
                 && t.closest('dd').previousElementSibling.textContent.includes('Goes out')))
  .map(t => t.getAttribute('datetime'))"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _chat_script(marker: str) -> tuple[list[str], str]:
    """Return (peerline arguments, stdin) of the README's fenced chat block after `marker`."""
    block = README.split(marker, 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    command = lines[0].split()
    assert command[0] == ".venv/bin/peerline", command
    texts = [line.removeprefix(">").strip() for line in lines[1:] if line.startswith(">")]
    return command[1:], "\n".join(texts) + "\n"


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], str]]:
    """Start `make run PORT=...` as the README says; yield (url, env, what it printed)."""
    if not PEERLINE.exists():
        pytest.skip("no .venv in this checkout (make .venv/.installed-test first)")
    port = _free_port()
    env = {**os.environ,
           "PEERLINE_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db",
           "PEERLINE_DATABASE_SPOOL_DIR": str(tmp_path / "spool"),
           "PEERLINE_FLOWS_VERSIONS_DIR": str(tmp_path / "flow_versions"),
           # what the demo database gets by default, needed once its URL is not the default
           "PEERLINE_WEB_SECRET_KEY": "walkthrough-secret-key", "PEERLINE_WEB_SECURE_COOKIES": "0"}
    env.pop("PEERLINE_CONFIG", None)
    log = tmp_path / "make-run.log"
    with log.open("w") as out:
        # -o .venv/.installed: reuse the installed venv even if pyproject.toml is newer.
        server = subprocess.Popen(["make", "-o", ".venv/.installed", "run", f"PORT={port}"],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 45
        while "Running on" not in log.read_text() and time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            time.sleep(0.2)
        printed = log.read_text()
        assert "Running on" in printed, printed
        yield f"http://127.0.0.1:{port}", env, printed
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)  # the group this test started: make and serve
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=5)


def _future(page: Any, moment: datetime) -> list[str]:
    late = moment + timedelta(minutes=2)  # clock skew between processes
    return [t for t in page.evaluate(PAST_TIMES) if t and datetime.fromisoformat(t) > late]


def test_the_readme_path_leaves_a_demo_that_reads_right(make_run: Any, page_for: Any) -> None:
    url, env, printed = make_run
    assert "coach login: coach / peerline-demo" in printed
    assert "staff login: staff / peerline-demo" in printed

    # "Be Sam": the first chat, on a throwaway copy with a virtual clock.
    args, script = _chat_script("be Sam, the demo veteran:\n\n```\n")
    assert "/wait 25h" in script and "I want to end it all" in script
    sam = subprocess.run([str(PEERLINE), *args], input=script, cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert sam.returncode == 0, sam.stderr
    assert "throwaway copy" in sam.stdout and "check-in time" in sam.stdout
    assert "(on this copy the time is now" in sam.stdout
    assert "To start it again, text CHECKIN." in sam.stdout  # the late answer
    assert "838255" in sam.stdout and "[to " not in sam.stdout

    # "As Jo, the second demo veteran": the crisis path, live.
    args, script = _chat_script("the second demo\nveteran:\n\n```\n")
    assert "--live" in args
    jo = subprocess.run([str(PEERLINE), *args], input=script, cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=60)
    assert jo.returncode == 0, jo.stderr
    assert "LIVE database" in jo.stdout and "838255" in jo.stdout

    page = page_for(DESKTOP)
    log_in(page, url, "coach", "peerline-demo")
    moment = datetime.now(UTC)
    home = page.content()
    assert "Jo" in page.locator("[data-escalation]").first.inner_text()
    for path in ["/", *sorted(set(re.findall(r'href="(/veterans/\d+)"', home))),
                 *sorted(set(re.findall(r'href="(/escalations/\d+)"', home)))]:
        page.goto(url + path)
        assert _future(page, moment) == [], path
        text = page.locator("main").inner_text()
        assert not re.search(r"\bin \d+ (minute|hour|day|week)s?\b", text), (path, text)

    # Sam's demo draft is still there and can be approved.
    page.goto(url + "/")
    draft = page.locator("[data-draft]").filter(has_text="How did pacing go this week?")
    assert draft.count() == 1
    draft.get_by_role("button", name="Approve").click()
    page.get_by_text("Approved: the message to Sam goes out").wait_for()

    staff = page_for(DESKTOP)
    log_in(staff, url, "staff", "peerline-demo")
    for path in ("/", "/staff/", "/staff/audit", "/staff/flows"):
        staff.goto(url + path)
        assert _future(staff, moment) == [], path
