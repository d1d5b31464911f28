"""Webhook benchmarks of issue 15: the durable floor, saturation, p99 paced, under dashboard load.

Run: .venv/bin/python benchmarks/webhook.py [--backend sqlite|postgres|both] [--quick]
     [--floor] [--saturation] [--paced] [--load] [--size 3000] [--seconds 15]
     [--server issue|gthread|split]

Every server runs under the same gunicorn flags (by default the issue's: -w 2,
sync workers; --server gthread: -w 4, gthread, 4 threads; --server split: the
issue's for the webhook, and in --load the staff pages on a second gunicorn of
their own, gthread, at niceness 10, as docs/deploy.md runs them; the same
backlog), signatures off (wrk's LuaJIT has no HMAC-SHA1), on the same
two cores as the load generator and the database. Each section prints its
figure beside the baseline measured in the same run:
1. --floor: bare Flask answering a fixed TwiML (reference) and the durable
   floor (benchmarks/floor_app.py: one INSERT of sid/from/body, one commit,
   then the TwiML) on the backend's database; both at saturation and paced.
2. --saturation: PeerLine (`bot:create_app()`) under wrk -c32 -t2 with the
   mix below (benchmarks/mix.lua), and its ratio to the floor's req/s.
   Targets: >= 0.5x the floor on SQLite, >= 0.4x on PostgreSQL.
3. --paced: p99 at --rate (200/s) offered with the mix, against the floor
   at the same rate. Target: p99 < 50 ms.
4. --load: the same paced mix while a staff member keeps reloading the staff
   home (same gunicorn, through the real login) and `peerline export messages`
   runs in a loop; beside it the webhook's p99 alone (section 3) and the staff
   home and export timed alone. Target: p99 < 100 ms.
With no section flag, all four run. --quick: a smoke run (tiny program, 1-3 s
per measurement), figures meaningless.

The paced client is open loop (benchmarks/paced.py), not wrk with delay():
wrk's delay() paces each connection after its previous answer, so when the
server slows down each connection sends less (the issue's "carries only
128/s" of 200) and the requests that would have queued meanwhile are never
sent or timed: the p99 hides the queueing a real Twilio would see, since
Twilio does not wait for one text's answer before posting the next. The open
loop posts request i at start + i/rate whatever happens, and counts latency
from that due time, so a stall shows in full. The Python client costs some
CPU on the same cores; the floor measured through the same client at the same
rate is its baseline.

The mix (benchmarks/webhook_mix.py): 52% answers to the open PEG question
(veterans seeded inside the weekly check-in), 15% keywords (HELP, START,
SKILLS, ABOUT), 25% fallback free text, 3% crisis texts, 5% coach commands
from coach phones (QUEUE, HELP, OK and ACK of their own drafts and alerts);
every request a unique MessageSid. --size veterans get a history (30
messages, 13 weeks of PEG answers; a draft for about 1 in 10, an open alert
for 1 in 30) so the staff home and the export take seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import floor_app
from harness import (
    ROOT,
    _ms,
    fresh_postgres,
    gunicorn,
    machine_note,
    migrate,
    postgres_available,
    sqlite_url,
    write_config,
)
from paced import open_loop, settle
from sqlalchemy import create_engine, text
from webhook_mix import MIX, ExportLoop, Program, StaffReloads, mix_lines, seed_program

BENCH = Path(__file__).resolve().parent
LUA = BENCH / "mix.lua"
COMMON = ("--backlog", "2048", "--error-logfile", "-", "--log-level", "warning",
          "--pythonpath", str(BENCH))
# --server: the flags (2 sync workers); one pool of 4 gthread workers of 4
# threads (a slow staff page holds one thread, not a worker); or split, as
# docs/deploy.md runs it: the webhook on the sync workers, the dashboard
# on a gunicorn of its own (gthread, for long downloads) at niceness DASHBOARD_NICE.
SERVERS = {"issue": (2, ("--worker-class", "sync")),
           "gthread": (4, ("--worker-class", "gthread", "--threads", "4", "--timeout", "30")),
           "split": (2, ("--worker-class", "sync"))}
DASHBOARD = (1, ("--worker-class", "gthread", "--threads", "4", "--timeout", "30"))
DASHBOARD_NICE = 10
CONNECTIONS = 32
SATURATION_CAP = 600  # req/s the mix file is sized for; beyond it lines wrap (see mix.lua)
TARGET_RATIO = {"sqlite": 0.5, "postgres": 0.4}
TARGET_PACED_MS, TARGET_LOADED_MS = 50.0, 100.0


@dataclass
class Plan:
    """How long and how much each measurement runs."""

    seconds: int
    warm: int
    paced_seconds: int
    rate: float
    size: int
    staff_loads: int
    server: str = "issue"

    def gunicorn_args(self) -> dict[str, Any]:
        """Return gunicorn()'s workers and flags for this plan's server."""
        workers, flags = SERVERS[self.server]
        return {"workers": workers, "flags": flags + COMMON}


@contextlib.contextmanager
def dashboard_server(plan: Plan, config: Path, folder: str, webhook: str) -> Iterator[str]:
    """Yield the base URL staff use: the webhook's server, or with --server split its own."""
    if plan.server != "split":
        yield webhook
        return
    workers, flags = DASHBOARD
    with gunicorn("bot:create_app()", env={"PEERLINE_CONFIG": str(config)}, cwd=folder,
                  workers=workers, flags=flags + COMMON, nice=DASHBOARD_NICE) as (base, _):
        yield base


def wrk_mix(base: str, lines_file: Path, prefix: str, first: int, seconds: int) -> dict[str, float]:
    """Run wrk with the mix file from line `first`; return rps, percentiles, errors, lines used."""
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout", "10s",
           "-s", str(LUA), base + "/sms/inbound", "--", str(lines_file), prefix, str(first), "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                         check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])}  # type: ignore[index]
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        result[f"p{pct}"] = _ms(match[1]) if match else float("nan")
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    lua = re.search(r"lua: lines used (\d+), (\d+) non-2xx", out)
    result["errors"] = float((int(lua[2]) if lua else 0)
                             + (sum(int(x) for x in sock.groups()) if sock else 0))
    result["lines_used"] = float(lua[1]) if lua else float(first)
    return result


def saturate(base: str, lines_file: Path, prefix: str, first: int, plan: Plan) -> dict[str, float]:
    """Warm up, then measure at saturation; lines_used covers both."""
    warm = wrk_mix(base, lines_file, prefix + "w", first, plan.warm)
    return wrk_mix(base, lines_file, prefix + "m", int(warm["lines_used"]), plan.seconds)


def sat_row(name: str, fig: dict[str, float]) -> str:
    return (f"      {name:<28}{fig['rps']:>9.0f}{fig['p50']:>8.1f}{fig['p90']:>8.1f}"
            f"{fig['p99']:>8.1f}{int(fig['errors']):>8}{int(fig.get('spooled', 0)):>8}")


def ms(value: float, width: int) -> str:
    """Format milliseconds; a request that failed or came after 15 s shows as 'failed'."""
    return f"{'failed':>{width}}" if math.isinf(value) else f"{value:>{width}.1f}"


def failed(fig: dict[str, float]) -> int:
    return int(fig["errors"] + fig["late"] + fig["unfinished"])


PACED_HEAD = (f"      {'server':<28}{'ok/s':>9}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}"
              f"{'max ms':>9}{'failed':>8}{'spooled':>8}")


def paced_row(name: str, fig: dict[str, float]) -> str:
    return (f"      {name:<28}{fig['achieved']:>9.0f}{ms(fig['p50'], 8)}{ms(fig['p90'], 8)}"
            f"{ms(fig['p99'], 8)}{ms(fig['max'], 9)}{failed(fig):>8}"
            f"{int(fig.get('spooled', 0)):>8}"
            + (f"  (offer stopped at {fig['stopped']:.0f} s: fell behind)"
               if fig["stopped"] < fig["requests"] / fig["offered"] else ""))


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def floor_servers(backend: str, folder: str, lines: list[str], lines_file: Path, plan: Plan,
                  sections: set[str]) -> dict[str, dict[str, float]]:
    """Measure bare Flask and the durable floor (saturation and/or paced, as sections need)."""
    target = (str(Path(folder) / "floor.db") if backend == "sqlite" else
              fresh_postgres("peerline_bench_floor").replace("postgresql+psycopg://",
                                                             "postgresql://"))
    floor_app.create_table(target)
    out: dict[str, dict[str, float]] = {}
    want_sat, want_paced = sections & {"floor", "saturation"}, sections & {"floor", "paced"}
    if not (want_sat or want_paced):
        return out
    for name, spec, env in (("bare", "bare_app:create_app()", {}),
                            ("floor", "floor_app:create_app()", {"FLOOR_DATABASE": target})):
        with gunicorn(spec, env=env, cwd=folder, **plan.gunicorn_args()) as (base, _):
            if want_sat:
                out[f"{name}_sat"] = saturate(base, lines_file, name[:2], 0, plan)
            if want_paced:
                out[f"{name}_paced"] = open_loop(base, lines, rate=plan.rate,
                                                 seconds=plan.paced_seconds, prefix=f"{name}p")
                settle(base)
    out["floor_rows"] = {"stored": float(floor_app.count(target))}
    return out


def peerline_db(backend: str, folder: str, plan: Plan, pool: int) -> tuple[str, Path, Program]:
    """Create, migrate and seed PeerLine's database; return its URL, config and program."""
    url = (fresh_postgres("peerline_bench_webhook") if backend == "postgres"
           else sqlite_url(folder, "webhook.db"))
    migrate(url)
    config = write_config(folder, url, flows={"dir": str(ROOT / "flows")})
    return url, config, seed_program(url, plan.size, pool)


def bench_backend(backend: str, plan: Plan, sections: set[str], folder: str) -> None:
    """Run the chosen sections on one backend and print them beside their baselines."""
    sat_lines = SATURATION_CAP * (plan.seconds + plan.warm) if "saturation" in sections else 0
    sat_lines += SATURATION_CAP * plan.warm  # PeerLine's own warm-up
    paced_lines = int(plan.rate * plan.paced_seconds) * (2 if "load" in sections else 1)
    count = sat_lines + paced_lines + 100
    pool = max(10, count * MIX["checkin"] // 100 // 3 + 1)
    url, config, program = peerline_db(backend, folder, plan, pool)
    lines = mix_lines(program, count)
    lines_file = Path(folder) / "mix.txt"
    lines_file.write_text("\n".join(lines) + "\n")
    rows = program.rows
    print(f"\n== {backend}: {plan.size:,} veterans with a history ({rows['messages']:,} messages, "
          f"{rows['answers']:,} PEG answers, {rows['drafts']:,} drafts, {rows['alerts']:,} open "
          f"alerts), {rows['waiting']:,} more waiting in the weekly check-in, "
          f"{program.coaches} coaches; mix file {count:,} lines")
    base_figs = floor_servers(backend, folder, lines, lines_file, plan, sections)
    used = 0
    peer: dict[str, dict[str, float]] = {}
    log = Path(folder) / "peerline.log"
    stored_before = inbound_rows(url)
    with gunicorn("bot:create_app()", env={"PEERLINE_CONFIG": str(config)}, cwd=folder,
                  log_path=log, **plan.gunicorn_args()) as (base, _), \
            dashboard_server(plan, config, folder, base) as staff_base:
        # Each worker loads the flows and the safety screen on its first texts: not measured.
        used = int(wrk_mix(base, lines_file, backend[:2] + "v", 0, plan.warm)["lines_used"])
        if "saturation" in sections:
            before = spooled(log)
            peer["sat"] = saturate(base, lines_file, backend[:2], used, plan)
            peer["sat"]["spooled"] = spooled(log) - before
            used = int(peer["sat"]["lines_used"])
        if sections & {"paced", "load"}:
            before = spooled(log)
            peer["paced"] = open_loop(base, lines, rate=plan.rate, seconds=plan.paced_seconds,
                                      prefix=f"{backend[:2]}p", first=used)
            settle(base)
            peer["paced"]["spooled"] = spooled(log) - before
            used = int(peer["paced"]["lines_used"])
        if "load" in sections:
            before = spooled(log)
            loaded, staff_alone, export_alone, staff, export = under_load(
                base, staff_base, config, lines, used, plan, backend)
            loaded["spooled"] = spooled(log) - before
            used = int(loaded["lines_used"])
    stored = inbound_rows(url) - stored_before
    wrapped = " (lines wrapped: later check-in answers met ended runs)" if used > count else ""
    if "floor_sat" in base_figs:
        print(f"   1-2. saturation: wrk -c{CONNECTIONS} -t2, {plan.seconds} s after {plan.warm} s "
              f"warm-up, mix.lua{wrapped}")
        print(f"      {'server':<28}{'req/s':>9}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}"
              f"{'errors':>8}{'spooled':>8}")
        print(sat_row("bare Flask, static TwiML", base_figs["bare_sat"]))
        print(sat_row(f"durable floor ({backend})", base_figs["floor_sat"]))
        if "sat" in peer:
            print(sat_row("PeerLine", peer["sat"]))
            floor_rps = base_figs["floor_sat"]["rps"]
            ratio = peer["sat"]["rps"] / (floor_rps or math.nan)
            print(f"      PeerLine / floor: {ratio:.2f}x (target >= {TARGET_RATIO[backend]}x: "
                  f"{verdict(ratio >= TARGET_RATIO[backend])}); floor / bare: "
                  f"{floor_rps / (base_figs['bare_sat']['rps'] or math.nan):.2f}x")
    if "floor_paced" in base_figs:
        print(f"   3. paced: {plan.rate:.0f}/s offered, open loop, {plan.paced_seconds} s, the mix")
        print(PACED_HEAD)
        print(paced_row("bare Flask, static TwiML", base_figs["bare_paced"]))
        print(paced_row(f"durable floor ({backend})", base_figs["floor_paced"]))
        if "paced" in peer:
            print(paced_row("PeerLine", peer["paced"]))
            p99 = peer["paced"]["p99"]
            print(f"      PeerLine p99 {ms(p99, 0)} ms vs floor "
                  f"{ms(base_figs['floor_paced']['p99'], 0)} ms (target < {TARGET_PACED_MS:.0f} "
                  f"ms: {verdict(p99 < TARGET_PACED_MS)}); {failed(peer['paced'])} of "
                  f"{int(peer['paced']['requests'])} failed (error, or no answer within 15 s)")
    if "load" in sections:
        print_load(plan, peer["paced"], loaded, staff_alone, export_alone, staff, export)
    print(f"   PeerLine stored {stored:,} inbound texts; {spooled(log):,.0f} more were answered "
          f"from the spool (a database wait over 3 s), to be replayed")
    if "floor_rows" in base_figs:
        print(f"   durable floor stored {int(base_figs['floor_rows']['stored']):,} texts "
              f"(one row per 2xx answer)")


def spooled(log: Path) -> float:
    """Return how many texts PeerLine's log says it spooled (database waits over ~3 s)."""
    return float(log.read_text(errors="replace").count("spooled for replay")) if log.exists() \
        else 0.0


def inbound_rows(url: str) -> int:
    """Return how many inbound texts PeerLine's database holds."""
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(text("SELECT count(*) FROM messages WHERE direction = 'in'"))
    engine.dispose()
    return int(count or 0)


def under_load(base: str, staff_base: str, config: Path, lines: list[str], first: int,
               plan: Plan, backend: str):  # type: ignore[no-untyped-def]
    """Time the staff home and the export alone, then the paced mix while both run."""
    alone = StaffReloads(staff_base)
    alone.login()
    for _ in range(plan.staff_loads):
        alone.load()
    exporter = ExportLoop(config)
    exporter.once()
    staff, export = StaffReloads(staff_base), ExportLoop(config)
    staff.login()
    staff.start()
    export.start()
    loaded = open_loop(base, lines, rate=plan.rate, seconds=plan.paced_seconds,
                       prefix=f"{backend[:2]}l", first=first)
    staff.stop.set()
    export.halt()
    settle(base)
    staff.join(180)
    export.join(60)
    return loaded, alone, exporter, staff, export


def print_load(plan: Plan, alone: dict[str, float], loaded: dict[str, float],
               staff_alone: StaffReloads, export_alone: ExportLoop, staff: StaffReloads,
               export: ExportLoop) -> None:
    """Print section 4: the webhook alone and under load, and the load itself."""
    def secs(values: list[float]) -> str:
        return f"median {statistics.median(values):.2f} s" if values else "none finished"

    kb = statistics.median(staff_alone.sizes) / 1024 if staff_alone.sizes else float("nan")
    print("   4. under dashboard load: the paced mix while the staff home reloads and "
          "`peerline export messages` loops")
    print(f"      staff home alone: {secs(staff_alone.times)} over {len(staff_alone.times)} "
          f"loads, {kb:.0f} KB, {staff_alone.failures} failed; during: "
          f"{secs(staff.times)} over {len(staff.times)} loads, {staff.failures} failed")
    during = (f"{len(export.times)} finished, {secs(export.times)}" if export.times
              else "one ran the whole time, none finished")
    print(f"      export messages alone: {secs(export_alone.times)} ({export_alone.rows:,} rows, "
          f"{export_alone.failures} failed); during: {during}, {export.failures} failed")
    print(PACED_HEAD)
    print(paced_row("PeerLine alone", alone))
    print(paced_row("PeerLine under load", loaded))
    print(f"      webhook p99 alone {ms(alone['p99'], 0)} ms, under load {ms(loaded['p99'], 0)} ms "
          f"(target < {TARGET_LOADED_MS:.0f} ms: {verdict(loaded['p99'] < TARGET_LOADED_MS)}); "
          f"{failed(loaded)} of {int(loaded['requests'])} failed under load")


def main() -> None:
    """Parse arguments and run the chosen sections on each backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    for name in ("floor", "saturation", "paced", "load"):
        parser.add_argument(f"--{name}", action="store_true", help=f"run the {name} section")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny, seconds each")
    parser.add_argument("--size", type=int, help="veterans with a history (default 1000)")
    parser.add_argument("--seconds", type=int, help="saturation seconds (default 15)")
    parser.add_argument("--paced-seconds", type=int, help="paced seconds (default 20)")
    parser.add_argument("--rate", type=float, help="paced requests/s offered (default 200)")
    parser.add_argument("--server", choices=sorted(SERVERS), default="issue",
                        help="issue: one gunicorn, -w 2 sync (issue 15's); gthread: one "
                             "gunicorn, -w 4 gthread x 4 threads; split: the webhook on -w 2 "
                             "sync, staff pages on their own niced gthread gunicorn "
                             "(docs/deploy.md); default issue")
    args = parser.parse_args()
    quick = args.quick
    plan = Plan(seconds=args.seconds or (1 if quick else 15), warm=1 if quick else 2,
                paced_seconds=args.paced_seconds or (2 if quick else 20),
                rate=args.rate or (50.0 if quick else 200.0),
                size=args.size or (60 if quick else 1000), staff_loads=1 if quick else 3,
                server=args.server)
    sections = {n for n in ("floor", "saturation", "paced", "load") if getattr(args, n)}
    sections = sections or {"floor", "saturation", "paced", "load"}
    workers, flags = SERVERS[args.server]
    print(f"webhook benchmarks (issue 15): gunicorn -w {workers} {' '.join(flags)}, "
          "signatures off; "
          f"sections {', '.join(sorted(sections))}{'; QUICK (smoke only)' if quick else ''}; "
          f"{machine_note()}")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "postgres" and not postgres_available():
            print("\n== postgres: skipped, no server at PEERLINE_BENCH_POSTGRES_URL")
            continue
        with tempfile.TemporaryDirectory(prefix="peerline-bench-") as folder:
            bench_backend(backend, plan, sections, folder)


if __name__ == "__main__":
    main()
