"""Webhook cost per ordinary check-in answer, in-process: CPU and wall milliseconds (SQLite).

Run: .venv/bin/python benchmarks/webhook_cpu.py [--participants 300]

The real app (create_app, signatures off) behind Flask's test client, no HTTP
server and no load generator, so the figure is the code's own cost and moves
little when the machine is busy (a shared machine skews wrk figures far more).
Each participant texts CHECKIN (untimed), then answers the first two PEG
questions (timed): 2 x N answers, each one store and one processing
transaction. Compare commits by running it from each checkout in turn.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from harness import ROOT, machine_note, migrate, phone_for, seed, sqlite_url, write_config


def main() -> None:
    """Seed, start a check-in for everyone, then time two answers each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=300)
    count = parser.parse_args().participants
    print(f"webhook cost per answer, in-process; {machine_note()}")
    with tempfile.TemporaryDirectory(prefix="peerline-bench-") as folder:
        url = sqlite_url(folder, "webhook.db")
        migrate(url)
        seed(url, count)
        os.environ["PEERLINE_CONFIG"] = str(write_config(folder, url,
                                                         flows={"dir": str(ROOT / "flows")}))
        from bot import create_app

        client = create_app().test_client()

        def post(index: int, body: str, tag: str) -> None:
            response = client.post("/sms/inbound", data={
                "MessageSid": f"SM{tag}{index:06d}", "From": phone_for(index),
                "To": "+12025550100", "Body": body, "NumMedia": "0"})
            assert response.status_code == 200, response.status_code

        for index in range(count):
            post(index, "CHECKIN", "a")
        cpu, wall = time.process_time(), time.perf_counter()
        for tag, body in (("b", "about a 7 today"), ("c", "5")):
            for index in range(count):
                post(index, body, tag)
        answers = 2 * count
        print(f"{(time.process_time() - cpu) / answers * 1000:.2f} ms CPU, "
              f"{(time.perf_counter() - wall) / answers * 1000:.2f} ms wall per answer "
              f"({answers} answers, {ROOT.name})")


if __name__ == "__main__":
    main()
