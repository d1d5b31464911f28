"""Dashboard pages at issue 15's scale: every page's median, p95, size and SQL statements.

Run: .venv/bin/python benchmarks/dashboard.py [--backend sqlite|postgres|both] [--size 1]
         [--repeat 20] [--pages NAME,...] [--explain] [--rebuild]

Builds (or reuses from the cache) the program of benchmarks/dashboard_data.py,
then fetches each page `--repeat` times through the Flask test client, signed
in with real logins (POST /login with the page's CSRF token), after one
untimed warm-up fetch (a page whose warm-up takes over `--slow-after` seconds,
ten times the target, is fetched `--slow-repeat` times instead). The clock is
frozen at the data's "now". Exports
(POST /staff/exports/KIND) run in a forked child, `--export-repeat` times,
each cut off after `--timeout` seconds like a gunicorn worker; the child also
reports how much its memory grew. Baselines from the same run: the login page
and /healthz. Targets: p95 < 300 ms, size <= 300 KB. `--explain` prints the
plan of each page's slowest statement (PostgreSQL: EXPLAIN ANALYZE with its
parameters; SQLite: EXPLAIN QUERY PLAN and its re-run time).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboard_data import PASSWORD, Program, postgres_program, sqlite_program
from harness import NOW, ROOT, machine_note, postgres_available
from sqlalchemy import Engine, create_engine, event
from werkzeug.exceptions import HTTPException

TARGET_MS, TARGET_KB = 300.0, 300.0
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


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


# ---- statements --------------------------------------------------------------------------

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


# ---- signed-in clients -------------------------------------------------------------------

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


# ---- reporting ----------------------------------------------------------------------------

def verdict(result: Result) -> str:
    """Say how a page stands against the targets (an export: only that it never fails)."""
    if result.page.baseline:
        return "baseline"
    if not result.times or result.status >= 400 or "cut off" in result.note:
        return "FAILED"
    if result.page.export:
        return "ok"
    problems = []
    if result.p95 >= TARGET_MS:
        problems.append("SLOW")
    if result.size > TARGET_KB * 1024:
        problems.append("BIG")
    return "+".join(problems) or "ok"


def line(result: Result, baseline_ms: float) -> str:
    """Return a page's output line: name first, so scripts and tests can find it."""
    page = result.page
    ratio = f"{result.median / baseline_ms:7.0f}x" if baseline_ms and result.times else "      -"
    return (f"  {page.name:<18} {result.median:9.1f} {result.p95:9.1f} {ratio} "
            f"{result.size / 1024:9.1f} {result.statements:6d} {result.status:4d}  "
            f"{verdict(result):<9} {page.title}" + (f" [{result.note}]" if result.note else ""))


HEADER = (f"  {'page':<18} {'median ms':>9} {'p95 ms':>9} {'x login':>8} {'size KB':>9} "
          f"{'SQL':>6} {'HTTP':>4}  {'verdict':<9} what")


def explain_slowest(url: str, result: Result) -> str:
    """Return the plan of the page's slowest statement, run again with its parameters."""
    if result.slowest is None:
        return ""
    took, statement, parameters = result.slowest
    engine = create_engine(url)
    out = [f"--- {result.page.name}: slowest statement {took:.1f} ms of a "
           f"{result.median:.0f} ms page ---", statement.strip()[:1500],
           f"parameters: {str(parameters)[:300]}"]
    try:
        with engine.connect() as conn:
            raw = conn.connection.driver_connection
            cur = raw.cursor()
            if engine.dialect.name == "postgresql":
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                out += [row[0] for row in cur.fetchall()]
            else:
                cur.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                out += [f"  {row[3]}" for row in cur.fetchall()]
                started = time.perf_counter()
                cur.execute(statement, parameters)
                rows = len(cur.fetchall())
                out.append(f"re-run: {(time.perf_counter() - started) * 1000:.1f} ms, "
                           f"{rows} rows")
            raw.rollback()
    except Exception as exc:  # noqa: BLE001 - a plan that cannot be shown is reported
        out.append(f"(could not explain: {exc!r:.200})")
    engine.dispose()
    return "\n".join(out)


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


def run_backend(backend: str, url: str, program: Program, args: argparse.Namespace,
                say: Callable[[str], None]) -> list[Result]:
    """Time every selected page on one database."""
    from bot import create_app, freeze_startup_objects
    from bot.core.clock import FrozenClock

    app = create_app(test_config={
        "database": {"url": url},
        "web": {"secret_key": "bench-secret-key", "secure_cookies": False},
        "twilio": {"auth_token": "bench-auth-token", "public_url": "https://peerline.example.org"},
        "flows": {"dir": str(ROOT / "flows")},
        "logging": {"level": "WARNING"},
    }, clock=FrozenClock(NOW))
    freeze_startup_objects()  # as a server's create_app() does; test_config skips it there
    clients = {"anonymous": (app.test_client(), "")}
    for role, username in (("staff", program.staff), ("big", program.big_coach),
                           ("small", program.small_coach)):
        clients[role] = sign_in(app, username)
    wanted = [p for p in pages(program)
              if p.baseline or not args.pages
              or any(w in p.name for w in args.pages.split(","))]
    say(f"\n{backend}: {len(wanted)} pages, {args.repeat} fetches each "
        f"(exports {args.export_repeat}, cut off at {args.timeout:.0f} s); "
        f"targets p95 < {TARGET_MS:.0f} ms, size <= {TARGET_KB:.0f} KB")
    say(HEADER)
    results: list[Result] = []
    baseline_ms = 0.0
    routes = app.url_map.bind("localhost")
    for page in wanted:
        if page.optional and not has_route(routes, page.path):
            say(f"  {page.name:<18} {'-':>9} {'-':>9}  skipped: no such page in this version")
            continue
        result = measure(app, clients, page, args.repeat, args.export_repeat, args.timeout,
                         args.explain and not page.baseline and not page.export,
                         args.slow_after, args.slow_repeat)
        if page.name == "login":
            baseline_ms = result.median
        results.append(result)
        say(line(result, baseline_ms))
    missing = untimed_routes(app, pages(program))
    if missing:
        say(f"  (GET routes not timed here: {', '.join(missing)})")
    if args.explain:
        ranked = sorted((r for r in results if r.slowest), key=lambda r: -r.median)
        for result in ranked[:args.explain_top or None]:
            text = explain_slowest(url, result)
            if text:
                say("\n" + text)
    app.extensions["peerline"].db.dispose()
    return results


def markdown(all_results: dict[str, list[Result]]) -> str:
    """Return one table of every backend's figures, for docs/performance.md."""
    backends = list(all_results)
    by_name: dict[str, dict[str, Result]] = {}
    for backend, results in all_results.items():
        for result in results:
            by_name.setdefault(result.page.name, {})[backend] = result
    head = " / ".join(backends)
    rows = [f"| page | median ms ({head}) | p95 ms ({head}) | size KB | SQL | verdict |",
            "| --- | --- | --- | --- | --- | --- |"]
    for results in by_name.values():
        first = next(iter(results.values()))

        def cell(attr: str, results: dict[str, Result] = results) -> str:
            return " / ".join(f"{getattr(r, attr):,.0f}" if r.times else "-"
                              for r in results.values())
        notes = "; ".join(sorted({r.note for r in results.values() if r.note}))
        rows.append(f"| {first.page.title} | {cell('median')} | {cell('p95')} | "
                    f"{first.size / 1024:,.0f} | "
                    f"{' / '.join(str(r.statements) for r in results.values())} | "
                    f"{' / '.join(verdict(r) for r in results.values())}"
                    f"{' (' + notes + ')' if notes else ''} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--size", type=float, default=1.0, help="fraction of issue 15's program")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=20, help="timed fetches per page")
    parser.add_argument("--slow-after", type=float, default=3.0,
                        help="a page whose warm-up takes longer (seconds) gets --slow-repeat")
    parser.add_argument("--slow-repeat", type=int, default=5)
    parser.add_argument("--export-repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=30.0, help="export cut-off, seconds")
    parser.add_argument("--pages", default="", help="comma-separated parts of page names")
    parser.add_argument("--explain", action="store_true",
                        help="show the plan of the slowest statement of the slowest pages")
    parser.add_argument("--explain-top", type=int, default=0,
                        help="explain only the N slowest pages (default: every page)")
    parser.add_argument("--rebuild", action="store_true", help="ignore the cached database")
    parser.add_argument("--build-only", action="store_true",
                        help="build (or find) the cached databases, time nothing")
    args = parser.parse_args()

    def say(text: str) -> None:
        print(text, flush=True)

    # SIGTERM unwinds like Ctrl-C, so the PostgreSQL working copy is dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    say(f"dashboard benchmark, size {args.size:g} (seed {args.seed}); {machine_note()}")
    STATEMENTS.install()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    all_results: dict[str, list[Result]] = {}
    for backend in backends:
        if backend == "postgres" and not postgres_available():
            say("\npostgres: no server answers PEERLINE_BENCH_POSTGRES_URL; skipped")
            continue
        with tempfile.TemporaryDirectory(prefix="peerline-dash-") as folder:
            if backend == "sqlite":
                url, program = sqlite_program(Path(folder), args.size, args.seed, args.rebuild,
                                              say)
                if not args.build_only:
                    all_results[backend] = run_backend(backend, url, program, args, say)
            else:
                url, program, drop = postgres_program(args.size, args.seed, args.rebuild, say)
                try:
                    if not args.build_only:
                        all_results[backend] = run_backend(backend, url, program, args, say)
                finally:
                    drop()
        say("  data: " + ", ".join(f"{k} {v:,}" for k, v in program.counts.items())
            + f"; schema {program.revision}")
    if all_results:
        say("\n" + markdown(all_results))


if __name__ == "__main__":
    main()
