"""Outbox sender rate: holds 10 and 100 messages/s against a fake Twilio with 200 ms latency.

Run: .venv/bin/python benchmarks/sender_rate.py [--seconds 20] [--backend sqlite|postgres]

For each rate R, R x seconds messages are bulk-queued (due now, quiet hours
off so the wall-clock hour does not matter) and one OutboxSender drains them
through the real Twilio transport to tests/fake_twilio.py (a real local HTTP
server answering after 200 ms). The fake records each request's arrival;
the figures are the achieved rate over the run and the most requests that
arrived in any sliding one-second window (the target: never above R, with
one allowed at the window's edge). The baseline is a bare thread pool
posting the same number of requests to the same fake, paced by the same
token bucket, with no database: the ceiling the sender could reach. A second
line counts the sender's rate tokens (at most R in any second, by the bucket)
and how far the n-th arrival trails the n-th grant: what happens between a
token and its call (the sender's own work, the HTTP client, threads waiting
for the GIL) and, when the token comes before the re-check, its database wait.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from harness import (
    NOW,
    ROOT,
    fresh_postgres,
    machine_note,
    migrate,
    phone_for,
    postgres_available,
    seed,
    sqlite_url,
)
from sqlalchemy import func, insert, select, text

from tests.sched_support import max_in_window, watch_grants  # harness put the repo on sys.path

LATENCY = 0.2


def quantile(values: list[float], q: float) -> float:
    """Return the `q` quantile of sorted `values` (nearest rank)."""
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def queue(url: str, count: int, participants: int) -> None:
    """Bulk-insert `count` due messages with their outbox rows."""
    from sqlalchemy import create_engine

    from bot.models import Message, Outbox

    due = datetime.now(UTC) - timedelta(seconds=1)  # the sender reads the real clock
    engine = create_engine(url)
    with engine.begin() as conn:
        first = conn.scalar(select(func.coalesce(func.max(Message.id), 0))) + 1
        conn.execute(insert(Message), [
            {"id": first + i, "direction": "out", "participant_id": i % participants + 1,
             "phone": phone_for(i % participants), "body": f"Bench message {i}",
             "num_media": 0, "segments": 1, "kind": "nudge", "status": "queued",
             "created_at": NOW} for i in range(count)])
        conn.execute(insert(Outbox), [
            {"message_id": first + i, "kind": "nudge", "to_phone": phone_for(i % participants),
             "priority": 5, "state": "pending", "respect_quiet_hours": False,
             "to_participant": True, "due_at": due, "attempts": 0, "created_at": NOW}
            for i in range(count)])
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('messages', 'id'), "
                              "(SELECT max(id) FROM messages))"))
    engine.dispose()


def baseline(fake, rate: float, count: int, in_flight: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Post `count` requests paced by a token bucket, no database; return (rate, max/s)."""
    import base64
    import urllib.request

    from bot.sending.ratelimit import TokenBucket

    fake.reset()
    url = f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    auth = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()

    def post(i: int) -> None:
        data = f"To=%2B1617{2000000 + i:07d}&From=%2B12025550100&Body=x".encode()
        request = urllib.request.Request(url, data=data, headers={"Authorization": f"Basic {auth}"})
        urllib.request.urlopen(request, timeout=10).read()

    bucket = TokenBucket(rate)
    with ThreadPoolExecutor(in_flight) as pool:
        for i in range(count):
            bucket.acquire()
            pool.submit(post, i)
    arrivals = [r.at for r in fake.requests]
    span = max(arrivals) - min(arrivals)
    return (len(arrivals) - 1) / span if span else float("nan"), max_in_window(arrivals)


def bench(url: str, rate: float, seconds: int, in_flight: int) -> None:
    """Queue rate x seconds messages, drain them, and print the figures beside the baseline."""
    from bot.core.config import load_config
    from bot.models import Outbox
    from bot.sending.sender import OutboxSender
    from bot.services import build_services
    from tests.fake_twilio import FakeTwilio

    count = int(rate * seconds)
    with FakeTwilio(latency=LATENCY) as fake:
        base_rate, base_max = baseline(fake, rate, count, in_flight)
        fake.reset()
        queue(url, count, 10_000)
        overrides = {**fake.config_overrides(), "database__url": url,
                     "flows__dir": str(ROOT / "flows"), "logging__level": "WARNING",
                     "twilio__max_messages_per_second": rate,
                     "twilio__max_in_flight": in_flight}
        services = build_services(load_config(None, overrides=overrides))
        sender = OutboxSender(services)
        granted = watch_grants(sender)
        started = time.monotonic()
        deadline = started + seconds * 3 + 30
        while time.monotonic() < deadline:
            sender.drain()
            with services.db.session() as session:
                left = session.scalar(select(func.count()).where(Outbox.state != "sent"))
            if not left:
                break
        elapsed = time.monotonic() - started
        sender.stop()
        services.db.dispose()
        arrivals = [r.at for r in fake.requests]
        grants = sorted(granted)
        lags = sorted(a - g for a, g in zip(sorted(arrivals), grants, strict=False))
    span = max(arrivals) - min(arrivals)
    achieved = (len(arrivals) - 1) / span
    peak = max_in_window(arrivals)
    held = achieved >= rate * 0.95
    never_above = peak <= rate + 1
    print(f"   {rate:>5.0f}/s  {count:>5} msgs  PeerLine {achieved:7.1f}/s (max {peak} in any 1 s)"
          f"  baseline {base_rate:7.1f}/s (max {base_max})  drained in {elapsed:5.1f} s;"
          f" unsent {left}; holds rate: {'yes' if held else 'NO'},"
          f" never above: {'yes' if never_above else 'NO'}; fake saw at most "
          f"{fake.max_concurrent} in flight")
    print(f"   {'':>5}    tokens: {len(grants)} granted, at most {max_in_window(grants)} in any"
          f" 1 s; the n-th arrival after the n-th grant by p50 {quantile(lags, 0.5) * 1000:.0f}"
          f" ms, p99 {quantile(lags, 0.99) * 1000:.0f} ms, max {lags[-1] * 1000:.0f} ms")


def main() -> None:
    """Parse arguments and run each rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rates", default="10,100")
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    print(f"sender rate, fake Twilio latency {LATENCY * 1000:.0f} ms, max_in_flight "
          f"{args.in_flight}, {args.backend}; {machine_note()}")
    if args.backend == "postgres" and not postgres_available():
        print("postgres: skipped, no server at PEERLINE_BENCH_POSTGRES_URL")
        return
    for rate in (float(r) for r in args.rates.split(",")):
        with tempfile.TemporaryDirectory(prefix="peerline-bench-") as folder:
            url = (fresh_postgres("peerline_bench_sender") if args.backend == "postgres"
                   else sqlite_url(folder, "sender.db"))
            migrate(url)
            seed(url, 10_000)
            bench(url, rate, args.seconds, args.in_flight)


if __name__ == "__main__":
    main()
