"""Webhook cost per ordinary check-in answer, in-process: CPU and wall milliseconds (SQLite).

Run: .venv/bin/python benchmarks/webhook_cpu.py [--participants 300]

The real app (create_app, signatures off) behind Flask's test client, no HTTP
server and no load generator, so the figure is the code's own cost and moves
little when the machine is busy (a shared machine skews wrk figures far more).
Each participant texts CHECKIN (untimed), then answers the first two PEG
questions (timed): 2 x N answers, each one store and one processing
transaction. Compare commits by running it from each checkout in turn.
It also prints what validating one Twilio signature costs in-process: the wrk
benchmarks run with signatures off (wrk's LuaJIT has no HMAC-SHA1).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from harness import ROOT, machine_note, migrate, phone_for, seed, sqlite_url, write_config
from twilio.request_validator import RequestValidator


def signature_cost_us(rounds: int = 5000) -> float:
    """Return the in-process cost of validating one Twilio signature, in microseconds."""
    params = {"MessageSid": "SM" + "a" * 32, "From": "+16172000001", "To": "+12025550100",
              "Body": "about a 7 today", "NumMedia": "0", "AccountSid": "AC" + "b" * 32}
    validator = RequestValidator("bench-auth-token")
    url = "https://peerline.example.org/sms/inbound"
    signature = validator.compute_signature(url, params)
    started = time.perf_counter()
    for _ in range(rounds):
        assert validator.validate(url, params, signature)
    return (time.perf_counter() - started) / rounds * 1e6


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
    print(f"signature validation in-process: {signature_cost_us():.0f} us per request "
          "(signatures are off above and in the wrk benchmarks)")


if __name__ == "__main__":
    main()
