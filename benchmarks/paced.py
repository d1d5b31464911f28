"""An open-loop load client: POSTs form bodies at a fixed rate, whatever the server does.

Rules:
- Request i is due at start + i / rate. A dispatcher hands it to a pool of
  sender threads at that moment; if every sender is busy it waits in the
  queue, and that wait counts: latency runs from the due time to the end of
  the response (what a texter waiting on Twilio sees; no coordinated omission).
- Each request opens its own connection (gunicorn's sync workers close every
  connection after one response, as they do for Twilio).
- Every request gets a unique MessageSid: `prefix` + its number.
- A request unanswered TIMEOUT seconds (Twilio's own limit) after it was
  due has failed, like one answered with an error; the percentiles count it
  as infinitely late, so a p99 is "failed" when more than 1 % failed.
  Requests not yet sent `grace` seconds after the last one was due are
  dropped and counted as unfinished, so nothing spills into the next
  measurement (the client stops by itself). When more requests wait for a
  sender than could be answered within TIMEOUT, the server has fallen
  behind for good, or when more than 1 % have failed (the p99 has failed
  whatever follows): the client stops offering (`stopped`, seconds into the
  run) and counts the rest as unfinished, so a run never takes minutes to
  drain (gunicorn still works through requests the client gave up on).
"""

from __future__ import annotations

import http.client
import math
import queue
import threading
import time
import urllib.parse
from collections.abc import Sequence

TIMEOUT = 15.0  # seconds; Twilio gives up on a webhook after 15 s
FORM_HEAD = "AccountSid=ACbench&To=%2B12025550100&NumMedia=0&"


def percentile(values: Sequence[float], pct: float) -> float:
    """Return the `pct` percentile (nearest rank) of `values`, or NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    """Return p50/p90/p99/max of latencies in ms."""
    return {"p50": percentile(latencies_ms, 50), "p90": percentile(latencies_ms, 90),
            "p99": percentile(latencies_ms, 99),
            "max": max(latencies_ms) if latencies_ms else float("nan")}


def settle(base: str, timeout: float = 600.0) -> None:
    """Wait until the server has worked through what is queued (a health probe gets through)."""
    try:
        conn = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc, timeout=timeout)
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        conn.close()
    except OSError:
        pass


def open_loop(base: str, lines: Sequence[str], *, rate: float, seconds: float, prefix: str,
              first: int = 0, senders: int = 64, grace: float = 15.0) -> dict[str, float]:
    """POST lines[first:] to base + /sms/inbound at `rate`/s for `seconds`; return figures."""
    parts = urllib.parse.urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    total = int(rate * seconds)
    jobs: queue.Queue[tuple[int, float] | None] = queue.Queue()
    results: list[tuple[float, float, int]] = []  # (due, finished, status)
    failures: list[int] = []
    lock = threading.Lock()
    dropping = threading.Event()

    def send() -> None:
        while (job := jobs.get()) is not None:
            if dropping.is_set():
                continue
            index, due = job
            line = lines[(first + index) % len(lines)]
            sid = f"SM{prefix}x{index:09d}"
            body = f"MessageSid={sid}&SmsSid={sid}&{FORM_HEAD}{line}".encode()
            status = 0
            try:
                left = max(0.5, due + TIMEOUT - time.perf_counter())  # Twilio's wait
                conn = http.client.HTTPConnection(host, port, timeout=left)
                conn.request("POST", "/sms/inbound", body,
                             {"Content-Type": "application/x-www-form-urlencoded"})
                response = conn.getresponse()
                response.read()
                status = response.status
                conn.close()
            except OSError:
                status = -1
            finished = time.perf_counter()
            with lock:
                results.append((due, finished, status))
                if status != 200 or finished - due > TIMEOUT:
                    failures.append(index)

    pool = [threading.Thread(target=send, daemon=True) for _ in range(senders)]
    for thread in pool:
        thread.start()
    start = time.perf_counter() + 0.05
    stopped = float(seconds)
    for index in range(total):
        due = start + index / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        # p99 has failed whatever follows, or the oldest waiting can no longer be answered in time
        if len(failures) > total / 100 or jobs.qsize() > rate * TIMEOUT:
            stopped = index / rate
            break
        jobs.put((index, due))
    for _ in pool:
        jobs.put(None)
    deadline = time.perf_counter() + grace
    for thread in pool:
        thread.join(max(0.0, deadline - time.perf_counter()))
    dropping.set()
    for thread in pool:  # those still sending finish within TIMEOUT
        thread.join(TIMEOUT + 1)
    with lock:
        done = list(results)
    waits = [(finished - due) * 1000 for due, finished, status in done if status == 200]
    ok = [wait for wait in waits if wait <= TIMEOUT * 1000]
    span = (max(f for _, f, _ in done) - start) if done else float("nan")
    # Percentiles over every request due: one not answered in time counts as infinitely late.
    figures = summary(ok + [math.inf] * (total - len(ok)))
    figures.update({
        "offered": rate, "requests": float(total), "ok": float(len(ok)),
        "errors": float(sum(1 for *_, status in done if status != 200)),
        "late": float(len(waits) - len(ok)),
        "unfinished": float(total - len(done)),
        "achieved": len(ok) / span if ok and span > 0 else 0.0,
        "lines_used": float(first + total), "stopped": stopped,
    })
    return figures
