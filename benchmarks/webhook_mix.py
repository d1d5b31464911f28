"""The webhook benchmark's program: seeded history, the realistic mix of texts, dashboard load.

Rules:
- Participant i has phone harness.phone_for(i) and coach i % coaches. The
  first `size` veterans have a history (messages, 13 weeks of PEG answers;
  drafts for about 1 in 10, open alerts for 1 in 30) so that the staff home
  and `peerline export messages` take seconds; the next `pool` veterans are
  inside the weekly check-in, waiting for the pain question's answer
  (started with the real bot.runtime.apply.start_flows, as the
  scheduler's check-in job does).
- The staff member is added with bot.domain.people.add_coach, as `peerline
  staff add` does.
- The mix (MIX): check-in answers from the pool, keywords (HELP, START, a
  flow keyword), fallback free text and crisis texts from veterans with a
  history, coach commands (QUEUE, HELP, OK/ACK of their own drafts and alerts)
  from coach phones. Check-in answers go round the pool (answer k comes from
  pool veteran k % pool), so each of them answers 1, 2, 3 in turn while
  pool * 3 answers last; later ones meet an ended run (fallback).
- Lines are `From=...&Body=...`, URL-encoded; the client adds the MessageSid.
"""

from __future__ import annotations

import http.cookiejar
import random
import re
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import VENV_BIN, coach_phone_for, phone_for, seed
from sqlalchemy import create_engine, insert, select, text, update

MIX = {"checkin": 52, "keyword": 15, "fallback": 25, "crisis": 3, "coach": 5}  # percent
KEYWORDS = ("HELP", "START", "SKILLS", "ABOUT")
FALLBACK = ("thanks, the walk helped today", "had a rough night but doing ok",
            "my back is killing me today", "What time is my next call?",
            "feeling a bit better this week", "Gracias, hoy camine un poco",
            "Did my coach get my message", "ok sounds good")
CRISIS = ("I want to kill myself", "i am going to end my life tonight", "Quiero suicidarme",
          "I have pills saved up and I'm going to take them all")
HISTORY = ("thanks", "about a 6 today", "ok", "walked a bit", "Hi, check-in time: 3 quick "
           "questions, 0 to 10.", "Thanks for checking in.")
STAFF_USER, STAFF_PASSWORD = "bench-staff", "bench-staff-password-1"
PEG = ("pain", "enjoyment", "activity")


@dataclass
class Program:
    """What was seeded: who is who, and what coach commands may refer to."""

    size: int
    pool: int
    coaches: int
    drafts: dict[int, list[int]] = field(default_factory=dict)  # coach index -> draft ids
    alerts: dict[int, list[int]] = field(default_factory=dict)  # coach index -> escalation ids
    rows: dict[str, int] = field(default_factory=dict)


def seed_program(url: str, size: int, pool: int) -> Program:
    """Seed veterans, history, drafts, alerts, staff and waiting check-ins; return the program."""
    veterans = size + pool
    program = Program(size=size, pool=pool, coaches=max(2, veterans // 30))
    seed(url, veterans, program.coaches)
    now = datetime.now(UTC)  # the dashboard and the webhook read the real clock
    _history(url, program, now)
    program.rows["waiting"] = _start_checkins(url, range(size + 1, veterans + 1), now)
    return program


def _history(url: str, program: Program, now: datetime) -> None:
    """Bulk-insert messages, PEG answers, pending drafts and open alerts for the first `size`."""
    from bot.models import CheckinAnswer, Escalation, Message, Nudge, Participant

    rng = random.Random(15)
    engine = create_engine(url)
    messages, answers, drafts, alerts = [], [], [], []
    for i in range(program.size):
        pid, coach = i + 1, i % program.coaches
        for k in range(30):  # a text in or out about every third day
            at = now - timedelta(days=90 * (k + 1) / 31, minutes=rng.randrange(600))
            inbound = k % 2 == 0
            messages.append({
                "direction": "in" if inbound else "out", "participant_id": pid,
                "phone": phone_for(i), "body": HISTORY[(i + k) % len(HISTORY)],
                "num_media": 0, "segments": 1, "kind": "participant" if inbound else "flow",
                "status": "received" if inbound else "delivered",
                "sid": f"SMhist{i}x{k}", "processed_at": at, "created_at": at})
        for week in range(13):
            at = now - timedelta(weeks=week, hours=rng.randrange(48))
            answers.extend({"participant_id": pid, "flow_id": "weekly_checkin", "variable": name,
                            "value": str(rng.randrange(11)), "asked_at": at, "answered_at": at}
                           for name in PEG)
        if rng.random() < 0.1:
            drafts.append({"id": len(drafts) + 1, "participant_id": pid, "coach_id": coach + 1,
                           "body": "Hi, how did the walk go this week?",
                           "original_body": "Hi, how did the walk go this week?",
                           "reason": "bench draft", "source": "bench", "event_key": f"bench:{i}",
                           "status": "pending", "due_at": now + timedelta(days=1),
                           "created_at": now})
            program.drafts.setdefault(coach, []).append(len(drafts))
        if rng.random() < 1 / 30:
            alerts.append({"id": len(alerts) + 1, "participant_id": pid, "coach_id": coach + 1,
                           "kind": "concern", "urgent": False, "reason": "bench alert",
                           "event_key": f"bench:alert:{i}", "created_at": now})
            program.alerts.setdefault(coach, []).append(len(alerts))
    with engine.begin() as conn:
        conn.execute(update(Participant).values(enrolled_at=now - timedelta(days=120)))
        for table, rows in ((Message, messages), (CheckinAnswer, answers), (Nudge, drafts),
                            (Escalation, alerts)):
            for start in range(0, len(rows), 20_000):
                conn.execute(insert(table), rows[start:start + 20_000])
        if engine.dialect.name == "postgresql":
            for name in ("nudges", "escalations"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                  f"(SELECT coalesce(max(id), 1) FROM {name}))"))
        conn.execute(text("ANALYZE"))
    engine.dispose()
    program.rows.update(messages=len(messages), answers=len(answers), drafts=len(drafts),
                        alerts=len(alerts))


def _start_checkins(url: str, ids: range, now: datetime) -> int:
    """Add the staff member; start the weekly check-in for `ids` (first questions queued)."""
    from bot.core.config import load_config
    from bot.domain.people import add_coach
    from bot.models import Participant
    from bot.runtime.apply import start_flows
    from bot.services import build_services

    root = Path(__file__).resolve().parent.parent
    config = load_config(None, overrides={"database__url": url, "flows__dir": str(root / "flows"),
                                          "logging__level": "WARNING"})
    services = build_services(config)
    started = 0
    with services.db.session() as session:
        add_coach(session, name="Bench Staff", phone="+15085550100", now=now, role="staff",
                  username=STAFF_USER, password=STAFF_PASSWORD)
    with services.db.session() as session:
        for start in range(ids.start, ids.stop, 2000):
            people = session.scalars(select(Participant).where(
                Participant.id >= start, Participant.id < min(ids.stop, start + 2000)))
            started += len(start_flows(session, services, people, "weekly_checkin", now,
                                       trigger="bench"))
    if services.db.is_postgres:
        with services.db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    services.db.dispose()
    return started


def _form(phone: str, body: str) -> str:
    return urllib.parse.urlencode({"From": phone, "Body": body})


def mix(program: Program, count: int, seed_value: int = 15) -> list[tuple[str, str]]:
    """Return `count` (kind, request line) pairs in MIX's proportions (see the module rules)."""
    rng = random.Random(seed_value)
    kinds = [kind for kind, share in MIX.items() for _ in range(share)]
    drafts = {c: list(ids) for c, ids in program.drafts.items()}
    alerts = {c: list(ids) for c, ids in program.alerts.items()}
    answered = 0
    pairs = []
    for _ in range(count):
        kind = rng.choice(kinds)
        veteran = rng.randrange(program.size)
        if kind == "checkin":
            who = program.size + answered % program.pool
            answered += 1
            line = _form(phone_for(who), rng.choice(("3", "about a 6", "7", "5", "4/10")))
        elif kind == "keyword":
            line = _form(phone_for(veteran), rng.choice(KEYWORDS))
        elif kind == "fallback":
            line = _form(phone_for(veteran), rng.choice(FALLBACK))
        elif kind == "crisis":
            line = _form(phone_for(veteran), rng.choice(CRISIS))
        else:
            coach = rng.randrange(program.coaches)
            line = _form(coach_phone_for(coach), _command(rng, coach, drafts, alerts))
        pairs.append((kind, line))
    return pairs


def mix_lines(program: Program, count: int, seed_value: int = 15) -> list[str]:
    """Return the request lines of `mix` (the same seed gives the same lines), without kinds."""
    return [line for _, line in mix(program, count, seed_value)]


def _command(rng: random.Random, coach: int, drafts: dict[int, list[int]],
             alerts: dict[int, list[int]]) -> str:
    """Return a coach command: QUEUE, HELP, or OK/ACK of one of the coach's own, once each."""
    roll = rng.random()
    if roll < 0.2 and drafts.get(coach):
        return f"OK {drafts[coach].pop()}"
    if roll < 0.4 and alerts.get(coach):
        return f"ACK {alerts[coach].pop()}"
    return "HELP" if roll > 0.8 else "QUEUE"


class StaffReloads(threading.Thread):
    """A staff member who signs in and keeps reloading the staff home until stopped."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.stop = threading.Event()
        self.times: list[float] = []  # seconds per load
        self.sizes: list[int] = []
        self.failures = 0
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def login(self) -> None:
        """Sign in through the real login form (with its CSRF token)."""
        page = self.opener.open(self.base + "/login", timeout=600).read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        form = urllib.parse.urlencode({"username": STAFF_USER, "password": STAFF_PASSWORD,
                                       "csrf_token": token[1] if token else ""}).encode()
        self.opener.open(self.base + "/login", form, timeout=600).read()

    def load(self) -> None:
        """Fetch the staff home once and record how long it took."""
        started = time.perf_counter()
        try:
            with self.opener.open(self.base + "/", timeout=120) as response:
                body = response.read()
                final = response.geturl()
            if "/login" in final:
                raise RuntimeError("the staff home sent the benchmark back to the login page")
            self.sizes.append(len(body))
        except (OSError, RuntimeError):
            self.failures += 1
        self.times.append(time.perf_counter() - started)

    def run(self) -> None:
        while not self.stop.is_set():
            self.load()


class ExportLoop(threading.Thread):
    """`peerline export messages` run again and again (output discarded) until stopped."""

    def __init__(self, config: Path) -> None:
        super().__init__(daemon=True)
        self.config = config
        self.stop = threading.Event()
        self.times: list[float] = []
        self.rows = 0
        self.failures = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def once(self) -> float:
        """Run one export to the end; return its seconds (records rows and failures)."""
        started = time.perf_counter()
        self.proc = subprocess.Popen([str(VENV_BIN / "peerline"), "export", "messages",
                                      "--config", str(self.config)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        rows = sum(1 for _ in self.proc.stdout)
        code = self.proc.wait()
        elapsed = time.perf_counter() - started
        if code == 0:
            self.rows = rows - 1
            self.times.append(elapsed)
        elif not self.stop.is_set():
            self.failures += 1
        return elapsed

    def run(self) -> None:
        while not self.stop.is_set():
            self.once()

    def halt(self) -> None:
        """Stop looping and end the export under way (it is ours)."""
        self.stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
