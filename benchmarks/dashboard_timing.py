"""The dashboard benchmark's clock: signed-in clients, fetches, forked exports, statements.

Rules:
- Every SQL statement any engine runs is counted; `--explain` also times each one, and
  SELECTs are re-run with their fetch, since the listener misses SQLite's reading time.
- Clients sign in for real (POST /login with the page's CSRF token).
- A page is fetched once untimed first; an export runs in a forked child, cut off after
  the timeout like a gunicorn worker, which also reports how much its memory grew.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboard_builder import PASSWORD
from dashboard_pages import Page
from sqlalchemy import Engine, event

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Statements:
    """Count (and, when capturing, time) every SQL statement any engine runs."""

    count: int = 0
    capture: bool = False
    seen: list[tuple[float, str, Any]] = field(default_factory=list)

    def install(self) -> None:
        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool) -> None:
        self.count += 1
        if self.capture:
            conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        if self.capture and not executemany:
            took = time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
            self.seen.append((took * 1000, statement, parameters))


STATEMENTS = Statements()


def token(html: str) -> str:
    """Return the first CSRF token on a page."""
    match = _TOKEN.search(html)
    if not match:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)


def sign_in(app: Any, username: str) -> tuple[Any, str]:
    """Return a test client signed in as `username` and a CSRF token for its forms."""
    client = app.test_client()
    form = token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": form})
    if response.status_code != 302:
        raise RuntimeError(f"login as {username} failed: HTTP {response.status_code}")
    return client, token(client.get("/").get_data(as_text=True))


@dataclass
class Result:
    """One page's fetches."""

    page: Page
    times: list[float] = field(default_factory=list)  # ms
    size: int = 0
    statements: int = 0
    status: int = 0
    note: str = ""
    slowest: tuple[float, str, Any] | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def p95(self) -> float:
        if not self.times:
            return float("nan")
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def fetch(client: Any, page: Page, form_token: str) -> tuple[float, int, int, int]:
    """Fetch `page` once; return (ms, bytes, statements, HTTP status)."""
    before = STATEMENTS.count
    started = time.perf_counter()
    if page.export:
        response = client.post(page.path, data={"csrf_token": form_token}, buffered=True)
    else:
        response = client.get(page.path, buffered=True)
    size = len(response.get_data())
    took = (time.perf_counter() - started) * 1000
    return took, size, STATEMENTS.count - before, response.status_code


def _rss_kb(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def fetch_forked(app: Any, client: Any, page: Page, form_token: str, repeat: int,
                 timeout: float, result: Result) -> None:
    """Fetch an export `repeat` times in a child process, each cut off after `timeout` s."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: fresh connections, report one JSON line per fetch
        os.close(read_end)
        db = app.extensions["peerline"].db
        db.engine.dispose(close=False)
        if db._webhook is not None:
            db._webhook[0].dispose(close=False)
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS
        except OSError:
            pass
        start_rss = _rss_kb("VmRSS")
        try:
            for _ in range(repeat):
                took, size, count, status = fetch(client, page, form_token)
                grew = (_rss_kb("VmHWM") - start_rss) / 1024
                line = json.dumps([took, size, count, status, grew]) + "\n"
                os.write(write_end, line.encode())
        except BaseException as exc:  # noqa: BLE001 - report anything, then leave
            os.write(write_end, (json.dumps({"error": repr(exc)[:300]}) + "\n").encode())
        os._exit(0)
    os.close(write_end)
    buffer, grew, done = b"", 0.0, 0
    try:
        while done < repeat:
            ready, _, _ = select.select([read_end], [], [], timeout)
            if not ready:
                result.note = f"cut off after {timeout:.0f} s (a gunicorn worker's timeout)"
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(read_end, 65536)
            if not chunk:
                result.note = result.note or "child exited early"
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                data = json.loads(line)
                if isinstance(data, dict):
                    result.note = data["error"]
                    done = repeat
                    break
                took, size, count, status, grew = data
                result.times.append(took)
                result.size, result.statements, result.status = size, count, status
                done += 1
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    if result.times:
        result.note = (result.note + "; " if result.note else "") + f"memory +{grew:.0f} MB"


def measure(app: Any, clients: dict[str, tuple[Any, str]], page: Page, repeat: int,
            export_repeat: int, timeout: float, explain: bool, slow_after: float = 3.0,
            slow_repeat: int = 5) -> Result:
    """Time one page."""
    result = Result(page)
    client, form_token = clients[page.user or "anonymous"]
    if page.export:
        fetch_forked(app, client, page, form_token, export_repeat, timeout, result)
        return result
    warm = fetch(client, page, form_token)[0]  # warm-up: caches, templates, the pool
    if warm > slow_after * 1000 and repeat > slow_repeat:  # 10x over target: fewer suffice
        repeat = slow_repeat
        result.note = f"{repeat} fetches: the warm-up took {warm / 1000:.1f} s"
    for _ in range(repeat):
        took, size, count, status = fetch(client, page, form_token)
        result.times.append(took)
        result.size, result.statements, result.status = size, count, status
    if explain:
        STATEMENTS.seen.clear()
        STATEMENTS.capture = True
        try:
            fetch(client, page, form_token)
        finally:
            STATEMENTS.capture = False
        result.slowest = slowest(app.extensions["peerline"].db.engine, STATEMENTS.seen)
    return result


def slowest(engine: Engine, seen: list[tuple[float, str, Any]]) -> tuple[float, str, Any] | None:
    """Return the slowest captured statement: each SELECT re-run and fetched on its own.

    The listener's time misses the fetch (SQLite does most of its work while rows
    are read), so SELECTs are timed again, execute plus fetchall; writes keep theirs.
    """
    timed = []
    with engine.connect() as conn:
        cur = conn.connection.driver_connection.cursor()
        for took, statement, parameters in seen:
            if statement.lstrip().upper().startswith("SELECT"):
                started = time.perf_counter()
                cur.execute(statement, parameters)
                cur.fetchall()
                took = (time.perf_counter() - started) * 1000
            timed.append((took, statement, parameters))
        conn.connection.driver_connection.rollback()
    return max(timed, key=lambda s: s[0]) if timed else None
