"""Build issue 15's large program for benchmarks/dashboard.py, with bulk inserts; cache it.

Rules:
- At size 1: 100 coaches (one with 300 veterans, one with 30, the others ~30) and a
  staff member, 3,270 veterans, ~1.06 M messages over a year, ~384 k PEG answers,
  20 k escalations, 50 k drafts, 100 k audit rows. `size` scales every count.
- The rows look like what PeerLine writes: weekly check-in runs with their
  questions, answers and saved PEG values; fallback texts in the coach's inbox;
  drafts pending, sent, rejected and expired; open and closed alerts; contacts;
  outbox rows, some failed for good. Times run up to harness.NOW.
- Bulk: rows are tuples; SQLite takes them through the driver's executemany,
  PostgreSQL through COPY. Ids are given, so rows can point at each other.
- The schema is the checkout's own (its migrations). The built database is kept
  (an SQLite file, a PostgreSQL template database) keyed by size, seed and
  BUILDER_VERSION; a run works on a copy, migrated to the checkout's head and
  analyzed when its revision differs from the cached one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import NOW, PG_ADMIN, coach_phone_for, migrate, phone_for
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash

BUILDER_VERSION = 1
PASSWORD = "bench-password"
FULL = {"veterans": 3270, "messages": 1_060_000, "peg_answers": 384_000,
        "escalations": 20_000, "drafts": 50_000, "audit": 100_000}
CACHE = Path(os.environ.get("PEERLINE_BENCH_CACHE",
                            Path(tempfile.gettempdir()) / "peerline-bench-cache"))
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
         "America/Phoenix", "Pacific/Honolulu", "America/Puerto_Rico")
STRATEGIES = ("action_plan", "relaxation", "pacing", "activity", "pleasant", "thinking",
              "sleep", "flare_plan", "providers", "problem_solving", "asking_help")
FIRST = ("James", "Maria", "Robert", "Linda", "Michael", "Carmen", "William", "Patricia",
         "David", "Rosa", "Richard", "Barbara", "Joseph", "Ana", "Thomas", "Susan", "Daniel",
         "Luis", "Angela", "Kevin", "Denise", "Marcus", "Tanya", "Hector", "Gloria")
LAST = ("Smith", "Garcia", "Johnson", "Martinez", "Brown", "Lopez", "Davis", "Rodriguez",
        "Wilson", "Hernandez", "Moore", "Gonzalez", "Taylor", "Perez", "Anderson", "Rivera")
FREE_TEXT = ("my back was really bad today but I walked to the mailbox",
             "couldnt sleep again, knee is swollen", "had a good day, went fishing with my son",
             "the stretches helped a little", "when is my next call with my coach?",
             "VA appointment moved to thursday", "hoy me duele mucho la espalda",
             "tried the breathing thing, it works sometimes", "rough week, not much energy")
NUDGES = ("Hi {n}, remember the 10 minute walk we talked about. How did it go?",
          "{n}, a quick reminder to try your pacing plan today. One step at a time.",
          "Thinking of you {n}. Any wins this week, even small ones?")
REASONS = ("Encouragement for pacing", "No answer to the weekly check-in",
           "Pain went up two points", "Goal follow-up")


@dataclass
class Program:
    """What was built: the counts, and the ids the benchmark visits."""

    size: float
    seed: int
    key: str
    counts: dict[str, int] = field(default_factory=dict)
    staff: str = "staff"
    big_coach: str = "coach300"
    small_coach: str = "coach30"
    big_veterans: int = 0
    small_veterans: int = 0
    veteran_id: int = 0  # one of the small coach's veterans, a year of history
    escalation_id: int = 0  # an open alert about that veteran
    revision: str = ""


def cache_key(size: float, seed: int) -> str:
    """Return the cache key of a build."""
    return f"s{size:g}-seed{seed}-v{BUILDER_VERSION}".replace(".", "_")


def _sqlite_time(value: datetime) -> str:
    # SQLAlchemy's SQLite DATETIME storage format; UTCDateTime stores UTC.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Writer:
    """Buffer tuples per table and write them in bulk: executemany (SQLite) or COPY (PG)."""

    COLUMNS = {
        "coaches": "id name phone role username password_hash timezone active failed_logins "
                   "session_version created_at",
        "participants": "id phone name coach_id timezone status nudges_paused strategies fields "
                        "enrolled_at program_end_at peg_baseline consent_version consented_at "
                        "withdrawn_at withdrawal_reason last_inbound_at last_outbound_at",
        "consent_events": "participant_id kind version method created_at",
        "runs": "id participant_id flow_id flow_version status step waiting variables retries "
                "asked_at trigger started_at updated_at ended_at",
        "messages": "id direction sid participant_id coach_id phone body num_media segments kind "
                    "status error_code flow_id step_id run_id reply_twiml processed_at "
                    "created_at sent_at updated_at",
        "outbox": "message_id kind to_phone priority state respect_quiet_hours to_participant "
                  "due_at attempts last_error created_at finished_at",
        "checkin_answers": "participant_id run_id flow_id variable value asked_at answered_at",
        "nudges": "id participant_id coach_id body original_body reason source event_key "
                  "status paused due_at max_lateness_seconds decided_by_id decided_at "
                  "message_id created_at",
        "escalations": "id participant_id coach_id kind urgent phone texts reason event_key "
                       "run_id message_id created_at coach_notified_at acknowledged_at "
                       "acknowledged_by_id resolved_at resolved_by_id",
        "inbox_items": "participant_id coach_id message_id notified_at read_at created_at",
        "contacts": "participant_id coach_id kind minutes topics note via contact_at created_at",
        "audit_log": "actor_id actor action target_type target_id detail created_at",
    }
    BATCH = 20_000

    def __init__(self, url: str):
        self.url = url
        self.postgres = url.startswith("postgresql")
        self.engine = create_engine(url)
        self.conn = self.engine.connect()
        self.raw: Any = self.conn.connection.driver_connection
        if not self.postgres:
            self.raw.execute("PRAGMA synchronous=OFF")
            self.raw.execute("PRAGMA foreign_keys=OFF")
        self.buffers: dict[str, list[tuple[Any, ...]]] = {t: [] for t in self.COLUMNS}
        self.counts: dict[str, int] = dict.fromkeys(self.COLUMNS, 0)

    def add(self, table: str, *row: Any) -> None:
        self.buffers[table].append(row)

    def maybe_flush(self) -> None:
        """Write every buffer, parents first, once one is full (call between whole rows sets)."""
        if any(len(buffer) >= self.BATCH for buffer in self.buffers.values()):
            self.finish_buffers()

    def finish_buffers(self) -> None:
        for table in self.COLUMNS:  # parents before children: the order of COLUMNS
            self.flush(table)

    def _value(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value)
        if not self.postgres and isinstance(value, datetime):
            return _sqlite_time(value)
        return value

    def flush(self, table: str) -> None:
        rows = [tuple(self._value(v) for v in row) for row in self.buffers[table]]
        self.buffers[table] = []
        if not rows:
            return
        columns = self.COLUMNS[table].split()
        self.counts[table] += len(rows)
        if self.postgres:
            with self.raw.cursor() as cur, cur.copy(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            self.raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                                 rows)

    def finish(self) -> None:
        self.finish_buffers()
        if self.postgres:
            with self.raw.cursor() as cur:
                for table in ("coaches", "participants", "runs", "messages", "nudges",
                              "escalations", "consent_events", "outbox", "checkin_answers",
                              "inbox_items", "contacts", "audit_log"):
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"(SELECT coalesce(max(id), 1) FROM {table}))")
        self.raw.commit()
        self.conn.close()
        self.engine.dispose()


class Builder:
    """Generate the program's rows in time order per veteran."""

    def __init__(self, writer: Writer, size: float, seed: int):
        self.w = writer
        self.rng = random.Random(seed)
        self.size = size
        self.target = {k: max(1, round(v * size)) for k, v in FULL.items()}
        self.ids: dict[str, int] = {"runs": 0, "messages": 0, "nudges": 0, "escalations": 0}
        self.visited_alert = 0
        self.expected_weeks = 1

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    # ---- people ---------------------------------------------------------------------------

    def people(self) -> tuple[list[int], list[int]]:
        """Add staff and coaches; return each veteran's coach id and weeks in the program."""
        veterans = max(80, self.target["veterans"])
        big, small = max(40, round(300 * self.size)), 30
        others = max(1, round(98 * self.size))
        digest = generate_password_hash(PASSWORD)
        self.w.add("coaches", 1, "Sage Staff", None, "staff", "staff", digest,
                   "America/New_York", True, 0, 0, NOW - timedelta(days=400))
        for c in range(2, others + 4):
            username = {2: "coach300", 3: "coach30"}.get(c, f"coach-{c}")
            self.w.add("coaches", c, f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}",
                       coach_phone_for(c), "coach", username, digest,
                       self.rng.choice(ZONES[:4]), True, 0, 0, NOW - timedelta(days=400))
        coach_of = [2] * big + [3] * small
        rest = veterans - big - small
        coach_of += [4 + i % others for i in range(rest)]
        weeks = [self.rng.randint(26, 52) for _ in coach_of]
        weeks[big] = 52  # the visited veteran: a full year
        return coach_of, weeks

    # ---- per veteran ----------------------------------------------------------------------

    def message(self, direction: str, pid: int | None, phone: str, body: str, kind: str,
                status: str, at: datetime, *, coach_id: int | None = None,
                flow: str | None = None, step: str | None = None, run: int | None = None,
                outbox: bool = False, failed: bool = False) -> int:
        mid = self.next_id("messages")
        sid = f"SM{mid:032x}" if direction == "in" or outbox else None
        twiml = ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks. Got it.'
                 '</Message></Response>') if direction == "in" else None
        if failed:
            status = "failed"
        self.w.add("messages", mid, direction, sid, pid, coach_id, phone, body, 0, 1, kind,
                   status, 30003 if failed else None, flow, step, run, twiml,
                   at if direction == "in" else None, at,
                   at if direction == "out" else None, at + timedelta(seconds=5))
        if outbox:
            self.w.add("outbox", mid, kind, phone, 5, "failed" if failed else "sent", True,
                       pid is not None, at, 8 if failed else 1,
                       "Twilio 30003: Unreachable destination handset" if failed else None,
                       at, at + timedelta(seconds=3))
        return mid

    def veteran(self, pid: int, coach: int, weeks: int, quota: int, visited: bool) -> None:
        rng, add = self.rng, self.w.add
        phone, zone = phone_for(pid), rng.choice(ZONES)
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        enrolled = NOW - timedelta(weeks=weeks, hours=rng.randint(1, 150))
        status = "active" if visited else rng.choices(
            ("active", "paused", "opted_out", "maintenance", "withdrawn"), (85, 4, 4, 4, 3))[0]
        sent = 0
        last_in: datetime | None = None
        in_ids: list[int] = []
        pain = rng.uniform(5, 9)
        baseline: dict[str, Any] | None = None
        answer_share = min(1.0, self.target["peg_answers"] / 3 / self.expected_weeks)
        for week in range(1, weeks + 1):
            asked = enrolled + timedelta(weeks=week)
            run = self.next_id("runs")
            answered = rng.random() < answer_share
            self.message("out", pid, phone, "PeerLine weekly check-in: pain today, 0-10?",
                         "flow", "delivered", asked, flow="weekly_checkin", step="pain",
                         run=run, outbox=True, failed=rng.random() < 0.004)
            sent += 1
            if not answered:
                add("runs", run, pid, "weekly_checkin", "v1", "expired", "pain", False, {}, 0,
                    asked, "schedule", asked, asked + timedelta(days=1), asked + timedelta(days=1))
                continue
            pain = min(10, max(0, pain + rng.uniform(-0.8, 0.6)))
            values = {"pain": round(pain), "enjoyment": min(10, round(pain + rng.uniform(-2, 1))),
                      "activity": min(10, round(pain + rng.uniform(-2, 2)))}
            at = asked + timedelta(minutes=rng.randint(2, 600))
            for step, next_step in (("pain", "enjoyment"), ("enjoyment", "activity"),
                                    ("activity", "thanks")):
                at += timedelta(seconds=rng.randint(20, 300))
                in_ids.append(self.message("in", pid, phone, str(values[step]), "participant",
                                           "received", at, flow="weekly_checkin", step=step,
                                           run=run))
                add("checkin_answers", pid, run, "weekly_checkin", step, str(values[step]),
                    asked, at)
                self.message("out", pid, phone, f"Thanks. Next: {next_step}?", "reply", "twiml",
                             at, flow="weekly_checkin", step=next_step, run=run)
                sent += 2
            last_in = at
            if baseline is None:
                baseline = {**values, "score": round(sum(values.values()) / 3, 1),
                            "at": at.isoformat(), "week": week}
            add("runs", run, pid, "weekly_checkin", "v1", "ended", "thanks", False, values, 0,
                asked, "schedule", asked, at, at)
            if week % 6 == 0:  # a goal, its when, and next week its result
                for variable, value in (("goal_what", "walk 15 minutes after lunch"),
                                        ("goal_when", "weekdays"),
                                        ("goal_result", rng.choice(("all", "some", "not_yet")))):
                    add("checkin_answers", pid, run, "goal", variable, value, asked, at)
            if week % 3 == 0:
                add("contacts", pid, coach, rng.choice(("call", "call", "text", "tried")),
                    rng.randint(5, 40), [rng.choice(STRATEGIES)], "talked about pacing", "web",
                    at + timedelta(days=1), at + timedelta(days=1))
        sent += self.drafts(pid, coach, phone, enrolled, weeks, visited)
        sent += self.alerts(pid, coach, phone, enrolled, weeks, in_ids, visited)
        # Fill up to the veteran's share of messages with fallback texts in the inbox.
        while sent + 2 <= quota:
            at = enrolled + timedelta(seconds=rng.randint(3600, weeks * 7 * 86400))
            mid = self.message("in", pid, phone, rng.choice(FREE_TEXT), "participant",
                               "received", at, flow="fallback", step="fallback")
            self.message("out", pid, phone, "Thanks. I passed your words to your coach.",
                         "reply", "twiml", at, flow="fallback", step="fallback")
            unread = NOW - at < timedelta(days=3)
            add("inbox_items", pid, coach, mid, at, None if unread else at + timedelta(hours=3),
                at)
            last_in = max(last_in or at, at)
            sent += 2
        withdrawn = NOW - timedelta(days=20) if status == "withdrawn" else None
        add("participants", pid, phone, name, coach, zone, status, False,
            rng.sample(STRATEGIES, rng.randint(0, 3)), {}, enrolled,
            enrolled + timedelta(weeks=56), baseline, "v1", enrolled, withdrawn,
            "moved away" if withdrawn else None, last_in, NOW - timedelta(days=rng.randint(0, 6)))
        add("consent_events", pid, "enrolled", "v1", "cli", enrolled)

    def drafts(self, pid: int, coach: int, phone: str, enrolled: datetime, weeks: int,
               visited: bool) -> int:
        rng, sent = self.rng, 0
        share = self.target["drafts"] / self.expected_weeks
        count = int(weeks * share + rng.random())
        for i in range(count):
            nid = self.next_id("nudges")
            created = enrolled + timedelta(seconds=rng.randint(3600, weeks * 7 * 86400))
            pending = i == count - 1 and (visited or rng.random() < 0.26)
            if pending:
                created = NOW - timedelta(hours=rng.randint(1, 20))
            status = "pending" if pending else rng.choices(
                ("sent", "rejected", "expired", "cancelled"), (75, 10, 12, 3))[0]
            body = rng.choice(NUDGES).format(n="there")
            message = None
            if status == "sent":
                message = self.message("out", pid, phone, body, "nudge", "delivered",
                                       created + timedelta(hours=2), coach_id=coach,
                                       flow="nudges", outbox=True)
                sent += 1
            self.w.add("nudges", nid, pid, coach, body, body, rng.choice(REASONS),
                       "nudges:weekly", f"bench:nudge:{nid}", status, False,
                       created + timedelta(hours=rng.randint(2, 30)) if pending else created,
                       12 * 3600, None if pending else coach,
                       None if pending else created + timedelta(hours=1), message, created)
        return sent

    def alerts(self, pid: int, coach: int, phone: str, enrolled: datetime, weeks: int,
               in_ids: list[int], visited: bool) -> int:
        rng = self.rng
        share = self.target["escalations"] / self.expected_weeks
        count = int(weeks * share + rng.random()) + (1 if visited else 0)
        sent = 0
        for i in range(count):
            eid = self.next_id("escalations")
            # No "coach_request": 13 characters do not fit escalations.kind, VARCHAR(12), on
            # PostgreSQL (a product bug, reported); SQLite would take it.
            kind = rng.choices(("concern", "flow", "crisis"), (40, 50, 10))[0]
            opened = i == count - 1 and (visited or rng.random() < 0.08)
            created = (NOW - timedelta(hours=rng.randint(1, 72)) if opened else
                       enrolled + timedelta(seconds=rng.randint(3600, weeks * 7 * 86400)))
            acked = None if opened and rng.random() < 0.5 else created + timedelta(minutes=40)
            resolved = None if opened else created + timedelta(hours=20)
            message = rng.choice(in_ids) if in_ids else None
            if visited and opened:
                self.visited_alert = eid
            self.w.add("escalations", eid, pid, coach, kind, kind == "crisis",
                       phone if kind == "crisis" else None, 1, rng.choice(REASONS),
                       f"bench:esc:{eid}", None, message, created, created,
                       acked, coach if acked else None, resolved, 1 if resolved else None)
            if kind == "crisis":
                self.message("out", None, coach_phone_for(coach), "PeerLine ALERT: P"
                             f"{pid} may be in crisis. Open the dashboard.", "alert",
                             "delivered", created, coach_id=coach, outbox=True)
                sent += 1
        return sent

    def audit(self, coach_of: list[int]) -> None:
        rng, total = self.rng, self.target["audit"]
        actions = (("participant.view", "participant", 50), ("login", "coach", 10),
                   ("nudge.approve", "nudge", 15), ("nudge.reject", "nudge", 3),
                   ("escalation.view", "escalation", 8), ("escalation.ack", "escalation", 5),
                   ("escalation.resolve", "escalation", 4), ("contact.log", "participant", 5))
        weights = [a[2] for a in actions]
        start = NOW - timedelta(days=365)
        step = timedelta(days=365) / total
        for i in range(total):
            action, target_type, _ = rng.choices(actions, weights)[0]
            pid = rng.randint(1, len(coach_of))
            coach = coach_of[pid - 1]
            target = {"participant": pid, "coach": coach,
                      "nudge": rng.randint(1, max(1, self.ids["nudges"])),
                      "escalation": rng.randint(1, max(1, self.ids["escalations"]))}[target_type]
            self.w.add("audit_log", coach, f"web:coach:{coach}", action, target_type, target,
                       {}, start + step * i)
            self.w.maybe_flush()

    def digests(self, coaches: int) -> None:
        for week in range(52):
            at = NOW - timedelta(weeks=52 - week)
            for c in range(2, coaches + 1):
                self.message("out", None, coach_phone_for(c), "PeerLine: 3 drafts wait for you.",
                             "digest", "delivered", at, coach_id=c, outbox=True)
            self.w.maybe_flush()

    def build(self) -> dict[str, Any]:
        coach_of, weeks = self.people()
        self.expected_weeks = sum(weeks)
        coaches = max(coach_of)
        self.digests(coaches)
        messages = self.target["messages"] - self.ids["messages"]
        for index, (coach, span) in enumerate(zip(coach_of, weeks, strict=True)):
            quota = round(messages * span / self.expected_weeks)
            self.veteran(index + 1, coach, span, quota, visited=index == coach_of.count(2))
            self.w.maybe_flush()
        self.audit(coach_of)
        self.w.finish()
        return {"coaches": coaches, "big": coach_of.count(2), "small": coach_of.count(3),
                "veteran": coach_of.count(2) + 1, "escalation": self.visited_alert}


# ---- cache ---------------------------------------------------------------------------------

def head_revision(url: str) -> str:
    """Return the schema revision the database at `url` is at."""
    engine = create_engine(url)
    with engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    return str(revision)


def analyze(url: str) -> None:
    """Run ANALYZE (PostgreSQL: VACUUM ANALYZE, as autovacuum would) on the database."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE" if url.startswith("postgresql") else "ANALYZE"))
    engine.dispose()


def build(url: str, size: float, seed: int, say: Callable[[str], None] = print) -> Program:
    """Migrate `url` and fill it with the program; return what was built."""
    started = time.perf_counter()
    migrate(url)
    writer = Writer(url)
    builder = Builder(writer, size, seed)
    ids = builder.build()
    took = time.perf_counter() - started
    analyze(url)
    program = Program(size=size, seed=seed, key=cache_key(size, seed),
                      big_veterans=ids["big"], small_veterans=ids["small"],
                      veteran_id=ids["veteran"], escalation_id=ids["escalation"],
                      revision=head_revision(url))
    program.counts = _counts(url)
    say(f"  built in {took:.0f} s (+ ANALYZE {time.perf_counter() - started - took:.0f} s): "
        + ", ".join(f"{k} {v:,}" for k, v in program.counts.items()))
    return program


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    found = {}
    with engine.connect() as conn:
        for label, sql in (
                ("coaches", "SELECT count(*) FROM coaches WHERE role = 'coach'"),
                ("veterans", "SELECT count(*) FROM participants"),
                ("messages", "SELECT count(*) FROM messages"),
                ("peg_answers", "SELECT count(*) FROM checkin_answers WHERE variable IN "
                                "('pain', 'enjoyment', 'activity')"),
                ("escalations", "SELECT count(*) FROM escalations"),
                ("open_escalations", "SELECT count(*) FROM escalations "
                                     "WHERE resolved_at IS NULL"),
                ("drafts", "SELECT count(*) FROM nudges"),
                ("pending_drafts", "SELECT count(*) FROM nudges WHERE status = 'pending'"),
                ("audit", "SELECT count(*) FROM audit_log"),
                ("inbox_items", "SELECT count(*) FROM inbox_items"),
                ("failed_sends", "SELECT count(*) FROM outbox WHERE state = 'failed'")):
            found[label] = int(conn.execute(text(sql)).scalar() or 0)
    engine.dispose()
    return found


def _meta_path(key: str) -> Path:
    return CACHE / f"dashboard-{key}.json"


def sqlite_program(folder: Path, size: float, seed: int, rebuild: bool = False,
                   say: Callable[[str], None] = print) -> tuple[str, Program]:
    """Return (URL of a fresh working copy, Program): from the cache, or built and cached."""
    key = cache_key(size, seed)
    CACHE.mkdir(parents=True, exist_ok=True)
    cached, meta = CACHE / f"dashboard-{key}.db", CACHE / f"dashboard-{key}.sqlite.json"
    if rebuild or not (cached.exists() and meta.exists()):
        say(f"  building the SQLite program (size {size:g}, seed {seed}) into {cached}")
        scratch = CACHE / f"building-{key}-{os.getpid()}.db"
        program = build(f"sqlite:///{scratch}", size, seed, say)
        with sqlite3.connect(scratch) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        os.replace(scratch, cached)
        meta.write_text(json.dumps(asdict(program)))
    program = Program(**json.loads(meta.read_text()))
    work = folder / "dashboard.db"
    shutil.copyfile(cached, work)
    url = f"sqlite:///{work}"
    _bring_to_head(url, program, say)
    return url, program


def _bring_to_head(url: str, program: Program, say: Callable[[str], None]) -> None:
    migrate(url)
    revision = head_revision(url)
    if revision != program.revision:
        say(f"  migrated the copy {program.revision} -> {revision}; analyzing")
        analyze(url)
        program.revision = revision


def _admin() -> Any:
    return create_engine(make_url(PG_ADMIN), isolation_level="AUTOCOMMIT")


def postgres_program(size: float, seed: int, rebuild: bool = False,
                     say: Callable[[str], None] = print) -> tuple[str, Program, Callable[[], None]]:
    """Return (URL of a fresh copy of the cached template, Program, drop the copy)."""
    key = cache_key(size, seed)
    template, meta = f"peerline_dashtpl_{key}", CACHE / f"dashboard-{key}.postgres.json"
    admin_url = make_url(PG_ADMIN)
    admin = _admin()
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": template}).scalar()
        if rebuild or not exists or not meta.exists():
            scratch = f"peerline_dashbuild_{os.getpid()}"
            say(f"  building the PostgreSQL program (size {size:g}, seed {seed}) "
                f"as template {template}")
            conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{scratch}"'))
            program = build(admin_url.set(database=scratch).render_as_string(False), size, seed,
                            say)
            conn.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
            conn.execute(text(f'ALTER DATABASE "{scratch}" RENAME TO "{template}"'))
            CACHE.mkdir(parents=True, exist_ok=True)
            meta.write_text(json.dumps(asdict(program)))
        work = f"peerline_bench_dash_{os.getpid()}"
        conn.execute(text(f'DROP DATABASE IF EXISTS "{work}" WITH (FORCE)'))
        started = time.perf_counter()
        conn.execute(text(f'CREATE DATABASE "{work}" TEMPLATE "{template}"'))
        say(f"  copied the template in {time.perf_counter() - started:.0f} s")
    admin.dispose()
    program = Program(**json.loads(meta.read_text()))
    url = admin_url.set(database=work).render_as_string(False)
    _bring_to_head(url, program, say)

    def drop() -> None:
        engine = _admin()
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{work}" WITH (FORCE)'))
        engine.dispose()

    return url, program, drop
