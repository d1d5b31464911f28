"""Generate issue 15's large program row by row, for benchmarks/dashboard_data.py.

Rules:
- At size 1: 100 coaches (one with 300 veterans, one with 30, the others ~30) and a
  staff member, 3,270 veterans, ~1.06 M messages over a year, ~384 k PEG answers,
  20 k escalations, 50 k drafts, 100 k audit rows. `size` scales every count.
- The rows look like what PeerLine writes: weekly check-in runs with their
  questions, answers and saved PEG values; fallback texts in the coach's inbox;
  drafts pending, sent, rejected and expired; open and closed alerts; contacts;
  outbox rows, some failed for good. Times run up to harness.NOW.
- The same size and seed give the same rows (but the password hash's random salt);
  bump BUILDER_VERSION when the rows change, so cached programs are built again.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from dashboard_writer import Writer
from harness import NOW, coach_phone_for, phone_for
from werkzeug.security import generate_password_hash

BUILDER_VERSION = 1
PASSWORD = "bench-password"
FULL = {"veterans": 3270, "messages": 1_060_000, "peg_answers": 384_000,
        "escalations": 20_000, "drafts": 50_000, "audit": 100_000}
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
