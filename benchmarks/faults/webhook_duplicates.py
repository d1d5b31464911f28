"""Fault: 1,000 concurrent webhooks, 20% of them repeating another's MessageSid.

Run: .venv/bin/python benchmarks/faults/webhook_duplicates.py

gunicorn (2 gthread workers x 8 threads, so requests really overlap in the
database) serves bot:create_app() on PostgreSQL and on SQLite; 64 client
threads post 800 unique texts from enrolled participants plus 200 repeats of
random earlier sids, shuffled so repeats race their originals, all signed
with the Twilio auth token. Pass: every request is answered 200, 800 inbound
rows exist (each stored once), and each repeat got the same TwiML as its
original.
"""

from __future__ import annotations

import random
import sys
import tempfile
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from support import ROOT, fresh_postgres, migrate, postgres_available, seed, sqlite_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import gunicorn, phone_for, write_config  # noqa: E402

TOKEN = "fault-auth-token"
PUBLIC = "https://peerline.example.org"
FLAGS = ("--worker-class", "gthread", "--threads", "8", "--error-logfile", "-",
         "--log-level", "warning")


def post(base: str, form: dict[str, str]) -> tuple[int, str]:
    """POST a signed inbound text; return (status, body)."""
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + "/sms/inbound", form)
    request = urllib.request.Request(base + "/sms/inbound",
                                     data=urllib.parse.urlencode(form).encode(),
                                     headers={"X-Twilio-Signature": signature})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def run(backend: str, folder: str) -> bool:
    """Fire the burst at one backend and check the outcome."""
    from sqlalchemy import create_engine, func, select

    from bot.models import Message

    url = (fresh_postgres("peerline_fault_dupes") if backend == "postgres"
           else sqlite_url(folder, "dupes.db"))
    migrate(url)
    seed(url, 1000)
    config = write_config(folder, url, flows={"dir": str(ROOT / "flows")},
                          twilio={"auth_token": TOKEN, "validate_signatures": True,
                                  "public_url": PUBLIC})
    rng = random.Random(7)
    unique = [{"MessageSid": f"SMdup{i:06d}", "From": phone_for(rng.randrange(1000)),
               "To": "+12025550100", "Body": rng.choice(["7", "hello", "HELP", "CHECKIN"]),
               "NumMedia": "0"} for i in range(800)]
    repeats = [dict(rng.choice(unique)) for _ in range(200)]
    burst = unique + repeats
    rng.shuffle(burst)
    with gunicorn("bot:create_app()", flags=FLAGS, env={"PEERLINE_CONFIG": str(config)},
                  cwd=folder) as (base, _):
        with ThreadPoolExecutor(64) as pool:
            results = list(pool.map(lambda form: post(base, form), burst))
    engine = create_engine(url)
    with engine.connect() as conn:
        stored = conn.scalar(select(func.count()).where(Message.direction == "in"))
        per_sid = conn.execute(select(Message.sid, func.count()).where(Message.direction == "in")
                               .group_by(Message.sid).having(func.count() > 1)).all()
    engine.dispose()
    answers: dict[str, set[str]] = {}
    for form, (_, body) in zip(burst, results, strict=True):
        answers.setdefault(form["MessageSid"], set()).add(body)
    statuses = sorted({status for status, _ in results})
    differing = sum(1 for bodies in answers.values() if len(bodies) > 1)
    ok = statuses == [200] and stored == 800 and not per_sid and differing == 0
    print(f"{backend}: {len(burst)} requests ({len(repeats)} repeats), statuses {statuses}, "
          f"inbound rows {stored} (want 800), sids stored twice {len(per_sid)}, "
          f"repeats answered differently {differing}: {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> None:
    """Run on PostgreSQL (when it answers) and SQLite."""
    results = []
    for backend in ("postgres", "sqlite"):
        if backend == "postgres" and not postgres_available():
            print("postgres: skipped, no server at PEERLINE_BENCH_POSTGRES_URL")
            continue
        with tempfile.TemporaryDirectory(prefix="peerline-fault-") as folder:
            results.append(run(backend, folder))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
