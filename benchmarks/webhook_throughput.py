"""Webhook throughput: gunicorn serving bot:create_app() vs a bare Flask app, same flags.

Run: .venv/bin/python benchmarks/webhook_throughput.py [--seconds 15] [--backend sqlite]

Load comes from wrk with benchmarks/inbound.lua: every request has a unique
MessageSid and comes from one of N enrolled participants. Both servers run with
`validate_signatures = false` (wrk's LuaJIT has no HMAC-SHA1); the cost of
validating a signature is measured separately in-process and printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness import (
    ROOT,
    fresh_postgres,
    gunicorn,
    machine_note,
    migrate,
    postgres_available,
    run_wrk,
    seed,
    sqlite_url,
    write_config,
)
from sqlalchemy import create_engine, func, select

LUA = Path(__file__).with_name("inbound.lua")
FLAGS = ("--worker-class", "sync", "--backlog", "2048", "--error-logfile",
         "-", "--log-level", "warning")


def signature_cost_us(rounds: int = 5000) -> float:
    """Return the in-process cost of validating one Twilio signature, in microseconds."""
    from twilio.request_validator import RequestValidator

    params = {"MessageSid": "SM" + "a" * 32, "From": "+16172000001", "To": "+12025550100",
              "Body": "about a 7 today", "NumMedia": "0", "AccountSid": "AC" + "b" * 32}
    validator = RequestValidator("bench-auth-token")
    url = "https://peerline.example.org/sms/inbound"
    signature = validator.compute_signature(url, params)
    started = time.perf_counter()
    for _ in range(rounds):
        assert validator.validate(url, params, signature)
    return (time.perf_counter() - started) / rounds * 1e6


def start_runs(url: str, participants: int) -> int:
    """Put every participant inside a waiting flow step if the flow engine is present."""
    try:
        from bot.core.config import load_config
        from bot.models import Participant
        from bot.runtime.apply import start_flow  # type: ignore[attr-defined]
        from bot.services import build_services
    except ImportError:
        return 0
    config = load_config(None, overrides={"database__url": url,
                                          "flows__dir": str(ROOT / "flows")})
    services = build_services(config)
    if services.flows is None:
        return 0
    started = 0
    flow_id = "weekly_checkin"
    with services.db.session() as session:
        for participant in session.scalars(select(Participant).limit(participants)):
            if start_flow(session, services, participant, flow_id, services.clock.now(),
                          trigger="bench") is not None:
                started += 1
    services.db.dispose()
    return started


def inbound_count(url: str) -> int:
    """Return how many inbound messages the database holds."""
    from bot.models import Message

    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).where(Message.direction == "in"))
    engine.dispose()
    return int(count or 0)


def measure(base: str, label: str, seconds: int, connections: int, participants: int,
            body: str) -> dict[str, float]:
    """Warm up, then run wrk once; return its figures."""
    run_wrk(base + "/sms/inbound", connections=connections, seconds=2, script=LUA,
            args=(f"w{label}", str(participants), body))
    return run_wrk(base + "/sms/inbound", connections=connections, seconds=seconds, script=LUA,
                   args=(f"m{label}", str(participants), body))


def bench_backend(backend: str, args: argparse.Namespace, folder: str) -> None:
    """Measure the bare app and PeerLine on one database backend and print both."""
    if backend == "postgres":
        url = fresh_postgres("peerline_bench_webhook")
    else:
        url = sqlite_url(folder, "webhook.db")
    migrate(url)
    seed(url, args.participants)
    in_flows = start_runs(url, args.participants)
    config = write_config(folder, url, flows={"dir": str(ROOT / "flows")})
    flags = FLAGS + tuple(args.flag or ())
    env = {"PEERLINE_CONFIG": str(config)}
    with gunicorn("bare_app:create_app()", flags=flags + ("--pythonpath", str(ROOT / "benchmarks")),
                  cwd=folder) as (base, _):
        bare = measure(base, "bare", args.seconds, args.connections, args.participants, args.body)
    before = inbound_count(url)
    with gunicorn("bot:create_app()", flags=flags, env=env, cwd=folder) as (base, _):
        app = measure(base, backend[:2], args.seconds, args.connections, args.participants,
                      args.body)
    stored = inbound_count(url) - before
    ratio = app["rps"] / bare["rps"]
    target = 0.5 if backend == "sqlite" else 0.4
    path = "flow step" if in_flows else "acknowledgement (no flow engine yet)"
    print(f"\n== {backend}: {args.participants} enrolled participants, path: {path}")
    print(f"   {'server':<12}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, fig in (("bare Flask", bare), ("PeerLine", app)):
        errors = int(fig["non2xx"] + fig["socket_errors"])
        print(f"   {name:<12}{fig['rps']:>9.0f}{fig['p50']:>9.1f}{fig['p90']:>9.1f}"
              f"{fig['p99']:>9.1f}{errors:>8}")
    verdict = "met" if ratio >= target else "MISSED"
    print(f"   ratio {ratio:.2f}x bare (target >= {target}x: {verdict})"
          f"; p99 {app['p99']:.1f} ms (target < 50 ms: {'met' if app['p99'] < 50 else 'MISSED'})")
    print(f"   inbound rows stored during the measured run + warm-up: {stored}")


def main() -> None:
    """Parse arguments and run the benchmark on each backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--body", default="about a 7 today")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--flag", action="append", help="extra gunicorn flag (for both servers)")
    args = parser.parse_args()
    print(f"webhook throughput: gunicorn -w 2 {' '.join(FLAGS[:2])}, wrk -c{args.connections} "
          f"-t2 {args.seconds}s, signatures off for both; {machine_note()}")
    print(f"signature validation in-process: {signature_cost_us():.0f} us per request "
          "(not in the wrk figures)")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "postgres" and not postgres_available():
            print("\n== postgres: skipped, no server at PEERLINE_BENCH_POSTGRES_URL")
            continue
        with tempfile.TemporaryDirectory(prefix="peerline-bench-") as folder:
            bench_backend(backend, args, folder)


if __name__ == "__main__":
    main()
