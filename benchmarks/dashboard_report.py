"""The dashboard benchmark's output: each page's line and verdict, plans, the markdown table.

Rules:
- A page's line starts with its name, so scripts and tests can find it.
- Targets: p95 < 300 ms and size <= 300 KB; an export only must not fail or be cut off.
- A plan that cannot be shown is reported, never raised.
"""

from __future__ import annotations

import time

from dashboard_timing import Result
from sqlalchemy import create_engine

TARGET_MS, TARGET_KB = 300.0, 300.0


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
