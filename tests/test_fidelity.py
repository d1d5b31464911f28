"""Fidelity and PEG exports against a small program computed by hand (SPEC 12)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.domain.export import ExportOptions, write_csv
from bot.domain.fidelity import met_target
from bot.domain.people import add_coach, add_participant
from bot.models import CheckinAnswer, Contact, Escalation, Nudge
from tests.conftest import make_config
from tests.dashboard_support import Visitor

NOW = datetime(2027, 1, 31, 17, tzinfo=UTC)
PEERLINE = Path(sys.executable).parent / "peerline"


def at(month: int, day: int, hour: int = 15, minute: int = 0) -> datetime:
    """Return a moment of the small program (Dec 2026 or Jan 2027), in UTC."""
    return datetime(2026 if month == 12 else 2027, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def config(any_db_url):
    return make_config(any_db_url)


@pytest.fixture
def program(services) -> dict[str, int]:
    """Alex coaches Sam (from 1 Dec) and Kim (from 20 Dec); Blake coaches Robin (15 Nov)."""
    with services.db.session() as s:
        alex = add_coach(s, name="Alex Rivera", phone="+12025550101", now=at(12, 1))
        blake = add_coach(s, name="Blake Ode", phone="+12025550102", now=at(12, 1))
        sam = add_participant(s, phone="+12025550123", name="Sam Carter", coach=alex,
                              timezone="America/New_York", now=at(12, 1))
        kim = add_participant(s, phone="+12025550124", name="Kim Park", coach=alex,
                              timezone="America/New_York", now=at(12, 20))
        robin = add_participant(s, phone="+12025550125", name="Robin Lee", coach=blake,
                                timezone="America/New_York",
                                now=datetime(2026, 11, 15, 15, tzinfo=UTC))
        for p in (sam, kim, robin):
            p.program_end_at = p.enrolled_at.replace(year=2027, month=6)
        for when, kind in ((at(12, 3), "call"), (at(12, 15), "text"), (at(12, 28), "visit"),
                           (at(1, 20), "call")):  # Alex's contacts with Sam
            s.add(Contact(participant_id=sam.id, coach_id=alex.id, kind=kind, via="web",
                          contact_at=when, created_at=when))
        s.add(Contact(participant_id=sam.id, coach_id=alex.id, kind="tried", via="sms",
                      contact_at=at(1, 10), created_at=at(1, 10)))  # not reached: no contact
        s.add(Contact(participant_id=kim.id, coach_id=alex.id, kind="text", via="relay",
                      contact_at=at(1, 5), created_at=at(1, 5)))
        for n, (created, acked) in enumerate(((at(12, 10), at(12, 10, 15, 30)),
                                              (at(12, 20, 14), at(12, 20, 16)))):
            s.add(Escalation(participant_id=sam.id, coach_id=alex.id, kind="flow", reason="x",
                             event_key=f"e{n}", created_at=created, acknowledged_at=acked,
                             acknowledged_by_id=alex.id))
        for n, (status, body, decided, due) in enumerate((
                ("sent", "Hi", at(12, 5), at(12, 5)), ("sent", "Hi there", at(12, 6), at(12, 6)),
                ("rejected", "Hi", at(12, 7), at(12, 7)), ("expired", "Hi", None, at(12, 8)),
                ("approved", "Hi", at(1, 3), at(1, 3)))):
            s.add(Nudge(participant_id=sam.id, coach_id=alex.id, body=body, original_body="Hi",
                        reason="r", source="test", event_key=f"n{n}", status=status,
                        due_at=due, decided_at=decided,
                        decided_by_id=alex.id if decided else None, created_at=at(12, 1)))
        sam.peg_baseline = {"pain": 6, "enjoyment": 6, "activity": 6, "score": 6.0,
                            "at": at(12, 2).isoformat(), "week": 1}
        for when, value in ((at(12, 2), 6), (at(12, 16), 5), (at(1, 10), 4)):
            for item in ("pain", "enjoyment", "activity"):
                s.add(CheckinAnswer(participant_id=sam.id, flow_id="weekly_checkin",
                                    variable=item, value=str(value), answered_at=when))
        return {"alex": alex.id, "blake": blake.id, "sam": sam.id, "kim": kim.id,
                "robin": robin.id}


def _export(services: Any, kind: str) -> list[dict[str, str]]:
    out = io.StringIO()
    with services.db.session() as session:
        write_csv(session, kind, out, ExportOptions(config=services.config, now=NOW))
    return list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))


def _row(rows: list[dict[str, str]], level: str, month: str, **who: int) -> dict[str, str]:
    found = [r for r in rows if r["level"] == level and r["month"] == month
             and all(r[k] == str(v) for k, v in who.items())]
    assert len(found) == 1, (level, month, who, found)
    return found[0]


def test_fidelity_matches_the_hand_count(services, program):
    rows = _export(services, "fidelity")
    ids = program
    # Sam in December: a call, a text and a visit, no stretch over 14 days (the longest,
    # 15 -> 28 Dec, is 13); alerts acknowledged after 30 and 120 minutes; a draft of each kind.
    sam_dec = _row(rows, "pair", "2026-12", participant_id=ids["sam"])
    assert (sam_dec["contacts"], sam_dec["met_contact_every"]) == ("3", "yes")
    assert sam_dec["median_minutes_to_acknowledge"] == "75"
    assert [sam_dec[f"drafts_{k}"] for k in ("approved", "edited", "rejected", "expired")] \
        == ["1", "1", "1", "1"]
    assert sam_dec["peg_change"] == "-1"  # 5.0 on 16 Dec against a baseline of 6.0
    assert sam_dec["contacts_from"].startswith("contact log")
    # Sam in January: the only contact on 20 Jan, 19 days after the month began (the call
    # on 10 Jan did not reach him).
    sam_jan = _row(rows, "pair", "2027-01", participant_id=ids["sam"])
    assert (sam_jan["contacts"], sam_jan["met_contact_every"], sam_jan["peg_change"]) \
        == ("1", "no", "-2")
    assert sam_jan["drafts_approved"] == "1"
    # Kim: enrolled 20 Dec, 11 days to the month's end with no contact: met; January's only
    # contact on 5 Jan leaves 26 days after it: not met. No baseline, so no PEG change.
    kim_dec = _row(rows, "pair", "2026-12", participant_id=ids["kim"])
    assert (kim_dec["contacts"], kim_dec["met_contact_every"], kim_dec["peg_change"]) \
        == ("0", "yes", "")
    assert _row(rows, "pair", "2027-01", participant_id=ids["kim"])["met_contact_every"] == "no"
    # Robin has never been contacted: 16 days of November already miss the target.
    robin_nov = _row(rows, "pair", "2026-11", participant_id=ids["robin"])
    assert (robin_nov["contacts"], robin_nov["met_contact_every"]) == ("0", "no")
    assert not [r for r in rows if r["participant_id"] in (str(ids["sam"]), str(ids["kim"]))
                and r["month"] == "2026-11"]
    # Coach rows add up their pairs.
    alex_dec = _row(rows, "coach", "2026-12", coach_id=ids["alex"], participant_id="")
    assert (alex_dec["contacts"], alex_dec["met_contact_every"], alex_dec["caseload"]) \
        == ("3", "yes", "2")
    assert alex_dec["median_minutes_to_acknowledge"] == "75"
    assert alex_dec["peg_change"] == "-1"
    alex_jan = _row(rows, "coach", "2027-01", coach_id=ids["alex"], participant_id="")
    assert (alex_jan["contacts"], alex_jan["met_contact_every"]) == ("2", "no")
    blake_nov = _row(rows, "coach", "2026-11", coach_id=ids["blake"], participant_id="")
    assert blake_nov["caseload"] == "1"


def test_peg_export_carries_change_from_baseline(services, program):
    rows = [r for r in _export(services, "peg") if r["participant_id"] == str(program["sam"])]
    assert [(r["score"], r["baseline_score"], r["change_from_baseline"]) for r in rows] == \
        [("6", "6", "0"), ("5", "6", "-1"), ("4", "6", "-2")]
    assert [r["program_week"] for r in rows] == ["1", "3", "6"]


def test_the_cli_writes_the_fidelity_export(services, program, tmp_path):
    config = tmp_path / "peerline.toml"
    config.write_text(f'[database]\nurl = "{services.config.database.url}"\n')
    config.chmod(0o600)  # it holds the database password on PostgreSQL
    done = subprocess.run([str(PEERLINE), "export", "fidelity", "--config", str(config)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    header = done.stdout.splitlines()[0]
    assert header.startswith("level,month,coach_id,participant_id,contacts,contacts_from,")
    assert f"pair,2026-12,{program['alex']},{program['sam']},3," in done.stdout


def test_met_target_counts_the_stretch_to_the_end():
    start, end = at(12, 1), at(12, 31)
    every = at(12, 15) - at(12, 1)
    assert met_target([at(12, 14), at(12, 28)], start, end, every)
    assert not met_target([at(12, 20)], start, end, every)  # 19 days before the first
    assert not met_target([at(12, 2)], start, end, every)  # 29 days after the last


def test_the_fidelity_page_is_staff_only_and_shows_the_months(app, services, clock, program):
    clock.set(NOW)

    with services.db.session() as s:
        add_coach(s, name="Sage Staff", phone=None, now=at(12, 1), role="staff",
                  username="sage", password="sage-password")
        add_coach(s, name="Casey Coach", phone="+12025550109", now=at(12, 1),
                  username="casey", password="casey-password")
    casey = Visitor(app.test_client())
    casey.login("casey", "casey-password")
    assert casey.get("/staff/fidelity").status_code == 403
    sage = Visitor(app.test_client())
    sage.login("sage", "sage-password")
    page = sage.text("/staff/fidelity")
    assert "Alex Rivera" in page and "Blake Ode" in page
    assert "2 of 2 (100%)" in page  # Alex, December: Sam and Kim on target
    assert "0 of 2 (0%)" in page  # Alex, January
    assert 'class="fidelity-chart"' in page and "contact log" in page
