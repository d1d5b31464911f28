"""Webhook CPU per text of issue 15's mix, in-process, beside the durable floor's (same run).

Run: .venv/bin/python benchmarks/webhook_mix_cpu.py [--backend sqlite|postgres|both]
         [--texts 3000] [--size 1000]

The real app (create_app, signatures off) and the durable floor
(benchmarks/floor_app.py) each behind Flask's test client: no HTTP server, no
load generator, one thread. The program and the mix are benchmarks/webhook.py's
(benchmarks/webhook_mix.py, the same seed), so the kinds and their shares match
the wrk runs. Printed: CPU and wall milliseconds per text for the floor and for
PeerLine, PeerLine's by kind, and floor CPU / PeerLine CPU, which is the
saturation ratio the wrk benchmark would show if both were CPU-bound on a
machine of their own. CPU moves far less than wrk's req/s when other work
shares the machine: use this figure to compare commits, wrk's for the target.
On PostgreSQL the client's CPU is counted, not the server's.
"""

from __future__ import annotations

import argparse
import collections
import os
import tempfile
import time
import urllib.parse
from typing import Any

import floor_app
from harness import (
    ROOT,
    fresh_postgres,
    machine_note,
    migrate,
    postgres_available,
    sqlite_url,
    write_config,
)
from webhook_mix import MIX, mix, seed_program

from bot import create_app


def timed(client: Any, forms: list[dict[str, str]]) -> tuple[float, float, list[float]]:
    """Post every form; return CPU seconds, wall seconds and each post's CPU seconds."""
    each = []
    cpu, wall = time.process_time(), time.perf_counter()
    for form in forms:
        started = time.process_time()
        response = client.post("/sms/inbound", data=form)
        assert response.status_code == 200, response.status_code
        each.append(time.process_time() - started)
    return time.process_time() - cpu, time.perf_counter() - wall, each


def run(backend: str, texts: int, size: int) -> None:
    """Measure the floor, then PeerLine, on one backend."""
    with tempfile.TemporaryDirectory(prefix="peerline-mixcpu-") as folder:
        postgres = backend == "postgres"
        url = fresh_postgres("peerline_bench_mixcpu") if postgres else sqlite_url(folder)
        migrate(url)
        pool = max(10, texts * MIX["checkin"] // 100 // 3 + 1)
        program = seed_program(url, size, pool)
        kinds, forms = [], []
        for index, (kind, line) in enumerate(mix(program, texts)):
            form = dict(urllib.parse.parse_qsl(line))
            form.update(MessageSid=f"SMcpu{index:08d}", To="+12025550100", NumMedia="0")
            kinds.append(kind)
            forms.append(form)
        floor_target = (fresh_postgres("peerline_bench_floor").replace(
            "postgresql+psycopg://", "postgresql://") if postgres
            else os.path.join(folder, "floor.db"))
        floor_app.create_table(floor_target)
        os.environ["FLOOR_DATABASE"] = floor_target
        floor_cpu, floor_wall, _ = timed(floor_app.create_app().test_client(), forms)
        os.environ["PEERLINE_CONFIG"] = str(write_config(folder, url,
                                                         flows={"dir": str(ROOT / "flows")}))
        app = create_app()
        client = app.test_client()
        cpu, wall, each = timed(client, forms)
        app.extensions["peerline"].db.dispose()
        del os.environ["PEERLINE_CONFIG"]  # the next backend's seeding reads its own
    by_kind: dict[str, list[float]] = collections.defaultdict(list)
    for kind, seconds in zip(kinds, each, strict=True):
        by_kind[kind].append(seconds)
    print(f"\n== {backend}: {texts:,} texts of the mix, {size:,} veterans with a history")
    print(f"   {'':<26}{'CPU ms':>8}{'wall ms':>9}   per text")
    print(f"   {'durable floor':<26}{floor_cpu / texts * 1000:>8.2f}"
          f"{floor_wall / texts * 1000:>9.2f}")
    print(f"   {'PeerLine':<26}{cpu / texts * 1000:>8.2f}{wall / texts * 1000:>9.2f}")
    for kind in MIX:
        values = by_kind.get(kind, [])
        if values:
            print(f"     {kind:<24}{sum(values) / len(values) * 1000:>8.2f}"
                  f"{'':>9}   ({len(values)} texts)")
    print(f"   floor CPU / PeerLine CPU: {floor_cpu / cpu:.2f}x "
          "(the saturation target is >= 0.5x on SQLite, >= 0.4x on PostgreSQL)")


def main() -> None:
    """Run the chosen backends."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--texts", type=int, default=3000)
    parser.add_argument("--size", type=int, default=1000)
    args = parser.parse_args()
    print(f"webhook CPU per text, in-process, the mix; {machine_note()}")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "postgres" and not postgres_available():
            print("\n== postgres: skipped (set PEERLINE_BENCH_POSTGRES_URL)")
            continue
        run(backend, args.texts, args.size)


if __name__ == "__main__":
    main()
