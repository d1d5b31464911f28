"""Fault: Twilio answers 500 and 429 for a minute; afterwards everything must go out.

Run: .venv/bin/python benchmarks/faults/twilio_outage.py [--outage 60]

200 messages are queued with due times one tenth of a second apart. An
OutboxSender loop (the scheduler's sender, real clock, 10/s, 8 in flight)
sends them to the fake Twilio, which answers 500 and 429 alternately until
the outage ends, then 201. Checked: every message is accepted exactly once,
how far the accepted order strays from the due order, the tries charged to
the rows (the sender's circuit should charge none to an outage), the most
requests in any one second (never above the rate), and how long after the
outage the last one went out.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from support import ROOT, database_for, seed, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import NOW, phone_for  # noqa: E402
from sender_rate import max_in_window  # noqa: E402

COUNT = 200
RATE = 10.0


def queue_in_order(url: str) -> None:
    """Queue COUNT messages due 0.1 s apart (all already due), bodies numbered by due order."""
    from sqlalchemy import create_engine, insert

    from bot.models import Message, Outbox

    first_due = datetime.now(UTC) - timedelta(seconds=COUNT / 10 + 1)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(Message), [
            {"id": i + 1, "direction": "out", "participant_id": i + 1, "phone": phone_for(i),
             "body": f"due #{i:04d}", "num_media": 0, "segments": 1, "kind": "nudge",
             "status": "queued", "created_at": NOW} for i in range(COUNT)])
        conn.execute(insert(Outbox), [
            {"message_id": i + 1, "kind": "nudge", "to_phone": phone_for(i), "priority": 5,
             "state": "pending", "respect_quiet_hours": False, "to_participant": True,
             "due_at": first_due + timedelta(seconds=i / 10), "attempts": 0,
             "created_at": NOW} for i in range(COUNT)])
    engine.dispose()


def main() -> None:
    """Run the outage and report."""
    from sqlalchemy import func, select

    from bot.core.config import load_config
    from bot.core.logs import setup_logging
    from bot.models import Outbox
    from bot.sending.sender import OutboxSender
    from bot.services import build_services
    from tests.fake_twilio import RATE_LIMITED, SERVER_ERROR, FakeTwilio

    setup_logging("ERROR")

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=60.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="peerline-fault-") as folder, \
            FakeTwilio(latency=0.05) as fake:
        url = database_for("peerline_fault_outage", folder)
        seed(url, COUNT)
        queue_in_order(url)
        overrides = {**fake.config_overrides(), "database__url": url,
                     "flows__dir": str(ROOT / "flows"), "logging__level": "ERROR",
                     "twilio__max_messages_per_second": RATE, "twilio__max_in_flight": 8}
        services = build_services(load_config(None, overrides=overrides))
        sender = OutboxSender(services, poll_seconds=0.5)
        until = time.monotonic() + args.outage
        fake.outage(lambda: time.monotonic() < until, SERVER_ERROR, RATE_LIMITED)
        started = time.monotonic()
        sender.start()

        def left() -> int:
            with services.db.session() as session:
                return int(session.scalar(select(func.count()).where(Outbox.state != "sent"))
                           or 0)

        wait_until(lambda: left() == 0, timeout=args.outage + 600, every=1.0)
        done = time.monotonic() - started
        sender.stop()
        with services.db.session() as session:
            failed = session.scalar(select(func.count()).where(Outbox.state == "failed"))
            max_attempts = session.scalar(select(func.max(Outbox.attempts)))
            charged = session.scalar(select(func.count()).where(Outbox.attempts > 1))
        unsent = left()
        services.db.dispose()
        accepted = [r for r in fake.requests if r.outcome.status == 201]
    order = [int(r.body.split("#")[1]) for r in accepted]
    inversions = sum(1 for a, b in zip(order, order[1:], strict=False) if b < a)
    displaced = sum(1 for position, index in enumerate(order) if abs(position - index) > 8)
    furthest = max((abs(position - index) for position, index in enumerate(order)), default=0)
    refused_after = [r for r in fake.requests if r.outcome.status != 201 and r.at >= started + 1]
    peak = max_in_window([r.at for r in fake.requests])
    peak5 = max_in_window([r.at for r in fake.requests], window=5.0)
    once = len(order) == len(set(order)) == COUNT
    print(f"outage {args.outage:.0f} s: {len(fake.requests) - len(accepted)} requests refused "
          f"(500/429; {len(refused_after)} after the first second: probes), then "
          f"{len(accepted)} accepted; unsent {unsent}, failed {failed}, most attempts on one "
          f"row {max_attempts}, rows charged more than one try {charged}")
    resumed = min((r.at for r in accepted), default=until) - until
    cleared = max((r.at for r in accepted), default=until) - until
    print(f"every message accepted exactly once: {once}; first one accepted {resumed:.1f} s and "
          f"last one {cleared:.1f} s after the outage ended (all recorded sent after "
          f"{done - args.outage:.1f} s); most requests in "
          f"any 1 s: {peak} (rate {RATE:.0f}), in any 5 s: {peak5} (allowed {5 * RATE + 1:.0f})")
    print(f"due order: {inversions} descents in the accepted sequence; {displaced} of {COUNT} "
          f"messages more than 8 places (one in-flight window) from their due position; "
          f"furthest {furthest} places")
    ok = once and unsent == 0 and peak <= RATE + 1 and displaced == 0 and charged == 0
    print(("PASS" if ok else "FAIL") + ": all out, each once, in due order (within the "
          "in-flight window), no try charged, never above the rate")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
