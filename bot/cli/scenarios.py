"""Run flow scenario files (SPEC §8) through the real runtime, on a virtual clock.

Each case gets a fresh in-memory database, coach and participant; the clock
starts on a Monday at 10:00 in the participant's zone. A step that names no
output asserts that none happened, except that a `trigger` step without
`expect_say` does not check the flow's opening text (SPEC §8's example).
Failures read as a short diff.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.pool import StaticPool

from bot.core.clock import FrozenClock
from bot.core.config import load_config
from bot.core.db import Database
from bot.core.durations import parse_duration
from bot.domain.people import add_coach, add_participant
from bot.domain.program_arc import program_length, week_of
from bot.flows.store import FlowStore
from bot.flows.yamlio import Report, check_keys, item_line, key_line, load_yaml
from bot.inbound.pipeline import route_message
from bot.models import Base, Escalation, Message, Nudge, Participant, Run
from bot.outbox.delivery import MessageStatus
from bot.runtime import apply as runtime
from bot.runtime.states import RunStatus
from bot.services import Services
from scheduler import simulate
from scheduler.jobs import run_job

FILE_KEYS = ("flow", "participant", "coach", "cases", "description", "scheduler")
STEP_KEYS = ("send", "trigger", "wait", "expect_say", "expect_coach", "expect_escalation",
             "expect_nudge", "expect_saved")
OUTPUTS = (("expect_say", "the bot said"), ("expect_coach", "the coach got"),
           ("expect_escalation", "escalations opened"), ("expect_nudge", "nudges drafted"))
START_DAY = datetime(2026, 12, 7).date()  # a Monday


class NullSender:
    """A sender that is never asked to send (scenarios read the outbox instead)."""

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> Any:
        raise RuntimeError("scenarios do not send")


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case: `failure` is empty when it passed."""

    file: str
    name: str
    line: int
    failure: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure


def scenario_files(path: Path) -> list[Path]:
    """Return the scenario files under `path` (a flows folder, a tests folder, or one file)."""
    if path.is_file():
        return [path]
    folder = path / "tests" if (path / "tests").is_dir() else path
    return sorted(folder.glob("*.yaml"))


def flows_dir_of(scenario: Path) -> Path:
    """Return the flows folder a scenario file tests (the parent of its tests/ folder)."""
    return scenario.resolve().parent.parent


def _quote(value: Any) -> str:
    return '"' + str(value).replace("\n", " ") + '"'


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(_same(e, a) for e, a in zip(expected, actual,
                                                                                strict=True))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual or (str(expected).lower() in {"yes", "true"}) == bool(actual)
    return bool(expected == actual or str(expected) == str(actual))


class _Case:
    """One case being run: its database, clock, people and what it has seen so far."""

    def __init__(self, store: FlowStore, doc: Any, flow_id: str):
        self.flow_id = flow_id
        self.run_scheduler = doc.get("scheduler") is True
        person = dict(doc.get("participant") or {})
        coach = dict(doc.get("coach") or {})
        zone = str(person.get("timezone", "America/New_York"))
        start = datetime.combine(START_DAY, time(10), tzinfo=ZoneInfo(zone))
        self.clock = FrozenClock(start)
        config = load_config(None, environ={}, overrides={"database__url": "sqlite://",
                                                          "flows__dir": str(store.folder)})
        self.db = Database("sqlite://", poolclass=StaticPool)
        Base.metadata.create_all(self.db.engine)

        self.services = Services(config=config, db=self.db, clock=self.clock,
                                 sender=NullSender(), flows=store)

        with self.db.session() as session:
            c = add_coach(session, name=str(coach.get("name") or coach.get("first_name", "Alex")),
                          phone="+12025550101", now=self.clock.now(), actor="scenario")
            p = add_participant(session, phone="+12025550123", coach=c, timezone=zone,
                                name=str(person.get("name") or person.get("first_name", "Sam")),
                                now=self.clock.now(), actor="scenario",
                                length=program_length(self.services.config))
            if "enrolled" in person:  # enrolled this long before the case starts
                p.enrolled_at = self.clock.now() - parse_duration(str(person["enrolled"]))
                p.program_end_at = p.enrolled_at + program_length(self.services.config)
            p.strategies = list(person.get("strategies") or [])
            p.fields = dict(person.get("fields") or {})
            self.participant_id, self.coach_phone, self.phone = p.id, c.phone, p.phone
        self.seen = {"message": 0, "escalation": 0, "nudge": 0}

    def close(self) -> None:
        self.db.dispose()

    def act(self, step: Any) -> str | None:
        """Do what a step says; return a problem with the step itself, if any."""

        now = self.clock.now()
        with self.db.session() as session:
            participant = session.get(Participant, self.participant_id)
            assert participant is not None
            if "send" in step:
                message = Message(direction="in", sid=f"SCN{uuid.uuid4().hex}",
                                  phone=self.phone, body=str(step["send"]), kind="unknown",
                                  status=MessageStatus.RECEIVED, created_at=now)
                session.add(message)
                session.flush()
                route_message(session, self.services, message, now)
                message.processed_at = now
            elif step.get("trigger") == "schedule":
                if runtime.start_flow(session, self.services, participant, self.flow_id,
                                      now) is None:
                    return f"flow '{self.flow_id}' could not start"
            elif step.get("trigger") == "enrolled":
                runtime.on_enrolled(session, self.services, participant, now)
            elif step.get("trigger") == "program_week":
                if runtime.start_flow(session, self.services, participant, self.flow_id, now,
                                      trigger="program_week") is None:
                    return f"flow '{self.flow_id}' could not start"
            elif step.get("trigger") == "program_end":
                participant.program_end_at = now  # as staff's "end now"; the job does the rest
            elif "trigger" in step:
                return (f"unknown trigger {step['trigger']!r}; use schedule, enrolled, "
                        "program_week or program_end")
        if step.get("trigger") == "program_end":
            run_job(self.services, "program_arc", now)
        if "wait" in step:
            try:
                self.wait(parse_duration(str(step["wait"])))
            except ValueError as exc:
                return str(exc)
        return None

    def wait(self, delta: timedelta) -> None:
        """Advance the clock by `delta`, doing what falls due on the way at its own time."""
        if self.run_scheduler:
            simulate.advance(self.services, self.clock, delta)
        else:
            advance_clock(self.services, self.clock, delta)

    def outputs(self) -> dict[str, list[str]]:
        """Return what happened since the last call, by expectation key."""
        found: dict[str, list[str]] = {key: [] for key, _ in OUTPUTS}
        with self.db.session() as session:
            for m in session.scalars(select(Message).where(
                    Message.id > self.seen["message"], Message.direction == "out")
                    .order_by(Message.id)):
                self.seen["message"] = m.id
                if m.phone == self.phone:
                    found["expect_say"].append(m.body)
                elif m.phone == self.coach_phone and m.kind == "notify":
                    found["expect_coach"].append(m.body)
            for e in session.scalars(select(Escalation).where(
                    Escalation.id > self.seen["escalation"]).order_by(Escalation.id)):
                self.seen["escalation"] = e.id
                found["expect_escalation"].append(e.reason)
            for n in session.scalars(select(Nudge).where(Nudge.id > self.seen["nudge"])
                                     .order_by(Nudge.id)):
                self.seen["nudge"] = n.id
                found["expect_nudge"].append(n.body)
        return found

    def saved(self) -> dict[str, Any]:
        """Return every saved variable of the participant (latest run wins)."""
        values: dict[str, Any] = {}
        with self.db.session() as session:
            for run in session.scalars(select(Run).where(
                    Run.participant_id == self.participant_id).order_by(Run.id)):
                values.update(run.variables or {})
            participant = session.get(Participant, self.participant_id)
            assert participant is not None
            for name, value in (participant.fields or {}).items():
                values[f"participant.{name}"] = value
            values["participant.strategies"] = list(participant.strategies or [])
            values["participant.status"] = participant.status
            if participant.peg_baseline:
                values["participant.baseline"] = {
                    k: v for k, v in participant.peg_baseline.items() if k not in ("at", "week")}
            values["participant.week"] = week_of(participant, self.clock.now())
        return values


def advance_clock(services: Services, clock: FrozenClock, delta: timedelta) -> int:
    """Move `clock` forward by `delta`, firing due timeouts and expiries at their own times."""
    target = clock.now() + delta
    fired = 0
    while True:
        with services.db.session() as session:
            due = session.scalar(select(func.min(Run.timeout_at)).where(
                Run.status == RunStatus.ACTIVE, Run.timeout_at.is_not(None)))
            expiry = session.scalar(select(func.min(Run.expires_at)).where(
                Run.status == RunStatus.ACTIVE, Run.expires_at.is_not(None)))
            moments = [m for m in (due, expiry) if m is not None and m <= target]
            if not moments:
                break
            clock.set(max(min(moments), clock.now()))
            done = runtime.fire_due(session, services, clock.now())
        if not done:
            break
        fired += done
    clock.set(target)
    return fired


def _describe(step: Any) -> str:
    for key in ("send", "trigger", "wait"):
        if key in step:
            return f"{key}: {_quote(step[key])}"
    return "(no action)"


def _check(step: Any, outputs: dict[str, list[str]], saved: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key, label in OUTPUTS:
        got = outputs[key]
        wanted = _as_list(step.get(key))
        missing = [w for w in wanted if not any(w in text for text in got)]
        if key not in step and got and not (key == "expect_say" and "trigger" in step):
            lines.append(f"  {key}: expected nothing, but {label}:")
            lines.extend(f"    + {_quote(text)}" for text in got)
        elif missing:
            lines.append(f"  {key}: expected a text containing:")
            lines.extend(f"    - {_quote(w)}" for w in missing)
            lines.append(f"  but {label}:" if got else f"  but nothing: {label} none")
            lines.extend(f"    + {_quote(text)}" for text in got)
    for name, value in (step.get("expect_saved") or {}).items():
        if name not in saved:
            lines.append(f"  expect_saved: {name} was never saved (expected {value!r})")
        elif not _same(value, saved[name]):
            lines.append(f"  expect_saved: {name} was expected to be {value!r}, but was saved "
                         f"as {saved[name]!r}")
    return lines


def _check_person(doc: Any, who: str, report: Report) -> None:
    """Report a `participant:` or `coach:` that the case could not be set up with."""
    person = doc.get(who)
    if person is None:
        return
    if not isinstance(person, dict):
        report.add(key_line(doc, who), f"{who} must be a mapping like {{first_name: Sam}}")
        return
    for key in ("name", "first_name"):
        if key in person and not str(person[key] or "").strip():
            report.add(key_line(person, key), f"{key} must be non-empty text")
    if "timezone" in person:
        try:
            ZoneInfo(str(person["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            report.add(key_line(person, "timezone"), f"unknown time zone "
                       f"{str(person['timezone'])!r}; use a name like America/Chicago")
    if "enrolled" in person:
        try:
            parse_duration(str(person["enrolled"]))
        except ValueError as exc:
            report.add(key_line(person, "enrolled"), f"enrolled: {exc} (how long before the "
                       "case starts the participant enrolled)")
    if not isinstance(person.get("strategies") or [], list):
        report.add(key_line(person, "strategies"),
                   "strategies must be a list like [pacing, sleep]")
    if not isinstance(person.get("fields") or {}, dict):
        report.add(key_line(person, "fields"), "fields must be a mapping like {goal_day: Monday}")


def _load(path: Path) -> tuple[Any, list[str]]:
    report = Report(str(path))
    doc = load_yaml(path, report)
    if doc is None and not report.problems:
        report.add(1, "the file is empty; write flow, participant, coach and cases")
    if doc is not None:
        if not isinstance(doc, dict) or not isinstance(doc.get("cases"), dict):
            report.add(1, "a scenario file needs flow, participant, coach and cases")
            doc = None
        else:
            check_keys(doc, FILE_KEYS, "the scenario file", report)
            for who in ("participant", "coach"):
                _check_person(doc, who, report)
            for name, steps in doc["cases"].items():
                if not isinstance(steps, list):
                    report.add(key_line(doc["cases"], name), f"case {name!r} must be a list")
                    continue
                for index, step in enumerate(steps):
                    if not isinstance(step, dict):
                        report.add(item_line(steps, index), "each step must be a mapping")
                    else:
                        check_keys(step, STEP_KEYS, "a scenario step", report)
                        if not isinstance(step.get("expect_saved") or {}, dict):
                            report.add(key_line(step, "expect_saved"),
                                       "expect_saved must be a mapping like {pain: 9}")
    return doc, [str(p) for p in report.problems]


def case_names(path: Path) -> list[str]:
    """Return the names of the cases in scenario file `path` (empty if it does not load)."""
    doc, problems = _load(path)
    return [] if problems or doc is None else [str(name) for name in doc["cases"]]


def run_file(path: Path, store: FlowStore | None = None,
             only: str | None = None) -> Iterator[CaseResult]:
    """Run every case of `path` (or just case `only`), yielding one result per case."""
    doc, problems = _load(path)
    if problems or doc is None:
        yield CaseResult(str(path), "(file)", 1, "\n".join(problems))
        return
    store = store or FlowStore(flows_dir_of(path), min_interval=3600)
    flow_id = str(doc.get("flow") or "")
    for name, steps in doc["cases"].items():
        if only is not None and str(name) != only:
            continue
        line = key_line(doc["cases"], name)
        if not flow_id or store.get(flow_id) is None:
            own = [e for e in store.errors if Path(e.split(":", 1)[0]).stem == flow_id] \
                or store.errors
            yield CaseResult(str(path), str(name), line,
                             f"{path}:{key_line(doc, 'flow')}: no valid flow {flow_id!r} in "
                             f"{store.folder}" + (", because of:" if own else "")
                             + "".join(f"\n  {e}" for e in own))
            continue
        yield _run_case(path, doc, flow_id, store, str(name), line, steps)


def _run_case(path: Path, doc: Any, flow_id: str, store: FlowStore, name: str, line: int,
              steps: list[Any]) -> CaseResult:
    case = _Case(store, doc, flow_id)
    try:
        for index, step in enumerate(steps, start=1):
            at = item_line(steps, index - 1)
            where = f"{path}:{at}: case {_quote(name)}, step {index} ({_describe(step)})"
            problem = case.act(step)
            if problem:
                return CaseResult(str(path), name, line, f"{where}\n  {problem}")
            diff = _check(step, case.outputs(), case.saved())
            if diff:
                return CaseResult(str(path), name, line, "\n".join([where, *diff]))
        return CaseResult(str(path), name, line)
    finally:
        case.close()


def run_path(path: Path) -> list[CaseResult]:
    """Run every scenario file under `path`."""
    results: list[CaseResult] = []
    stores: dict[Path, FlowStore] = {}
    for file in scenario_files(path):
        folder = flows_dir_of(file)
        store = stores.setdefault(folder, FlowStore(folder, min_interval=3600))
        results.extend(run_file(file, store))
    return results
