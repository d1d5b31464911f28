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

The pages are in dashboard_pages.py, the fetching and timing in
dashboard_timing.py, the output in dashboard_report.py; this file runs them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from dashboard_data import Program, postgres_program, sqlite_program
from dashboard_pages import has_route, pages, untimed_routes
from dashboard_report import HEADER, TARGET_KB, TARGET_MS, explain_slowest, line, markdown
from dashboard_timing import STATEMENTS, Result, measure, sign_in
from harness import NOW, ROOT, machine_note, postgres_available


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
