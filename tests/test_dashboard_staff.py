"""Staff pages: enrol, pause, resume, reassign, flow files, exports, audit log, failed sends."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.models import AuditLog, Escalation, Nudge, Outbox, Participant
from bot.outbox.queue import queue_message
from tests.dashboard_support import Visitor


@pytest.fixture
def sage(app: Any, world: dict[str, int]) -> Visitor:
    visitor = Visitor(app.test_client())
    assert visitor.login("sage", "sage-password").status_code == 302
    return visitor


def _actions(services: Any) -> list[str]:
    with services.db.session() as db:
        return list(db.scalars(select(AuditLog.action).where(AuditLog.actor_id.is_not(None))))


def test_overview_lists_every_coach_and_veteran(sage: Visitor) -> None:
    page = sage.text("/staff/")
    for name in ("Alex Rivera", "Blake Jones", "Sage Staff", "Sam Carter", "Robin Lee"):
        assert name in page


def test_add_veteran_enrols_or_explains_why_not(sage: Visitor, services: Any,
                                                world: dict[str, int]) -> None:
    bad = sage.post("/staff/veterans/new", {"name": "Kim Park", "phone": "12",
                                            "coach": str(world["alex"]),
                                            "timezone": "America/Denver"})
    assert bad.status_code == 400 and "form-error" in bad.get_data(as_text=True)
    taken = sage.post("/staff/veterans/new", {"name": "Kim Park", "phone": "+12025550123",
                                              "coach": str(world["alex"])})
    assert "already enrolled" in taken.get_data(as_text=True)
    no_coach = sage.post("/staff/veterans/new", {"name": "Kim Park", "phone": "(202) 555-0177",
                                                 "coach": str(world["staff"])})
    assert "choose the veteran&#39;s coach" in no_coach.get_data(as_text=True)
    good = sage.post("/staff/veterans/new", {"name": "Kim Park", "phone": "(202) 555-0177",
                                             "coach": str(world["alex"]),
                                             "timezone": "America/Denver"})
    assert good.status_code == 302
    with services.db.session() as db:
        kim = db.scalars(select(Participant).where(Participant.name == "Kim Park")).one()
        assert kim.phone == "+12025550177" and kim.coach_id == world["alex"]
        assert kim.timezone == "America/Denver"
    assert "participant.enrol" in _actions(services)


def test_pause_resume_and_reassign(sage: Visitor, services: Any, world: dict[str, int]) -> None:
    sam = world["sam"]
    sage.post(f"/staff/veterans/{sam}/pause")
    with services.db.session() as db:
        assert db.get(Participant, sam).status == "paused"  # type: ignore[union-attr]
    again = sage.post(f"/staff/veterans/{sam}/pause", follow_redirects=True)
    assert "is not active" in again.get_data(as_text=True)
    sage.post(f"/staff/veterans/{sam}/resume")
    with services.db.session() as db:
        assert db.get(Participant, sam).status == "active"  # type: ignore[union-attr]
    sage.post(f"/staff/veterans/{sam}/reassign", {"coach": str(world["blake"])})
    with services.db.session() as db:
        assert db.get(Participant, sam).coach_id == world["blake"]  # type: ignore[union-attr]
        drafts = db.scalars(select(Nudge).where(Nudge.participant_id == sam))
        assert {n.coach_id for n in drafts} == {world["blake"]}
        alert = db.get(Escalation, world["sam_alert"])
        assert alert is not None and alert.coach_id == world["blake"]
    refused = sage.post(f"/staff/veterans/{sam}/reassign", {"coach": str(world["staff"])},
                        follow_redirects=True)
    assert "Choose an active coach." in refused.get_data(as_text=True)
    actions = _actions(services)
    assert {"participant.pause", "participant.resume", "participant.reassign"} <= set(actions)
    blake = Visitor(sage.client.application.test_client())
    blake.login("blake", "blake-password")
    assert "Sam Carter" in blake.text("/")


def test_export_downloads_csv_without_phone_numbers_and_is_audited(
        sage: Visitor, services: Any) -> None:
    response = sage.post("/staff/exports/messages")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["message_id", "participant_id", "direction"]
    assert not any("my pain is about a 7 today" in row for row in rows)  # free text left out
    assert "+1202555" not in response.get_data(as_text=True)
    with services.db.session() as db:
        entry = db.scalars(select(AuditLog).where(AuditLog.action == "export")).one()
        assert entry.detail == {"kind": "messages", "rows": 2, "free_text": False}
    assert sage.post("/staff/exports/phones").status_code == 404
    assert "export" in sage.text("/staff/audit")


def test_failed_sends_show_the_last_error(sage: Visitor, services: Any,
                                          world: dict[str, int]) -> None:
    with services.db.session() as db:
        sam = db.get(Participant, world["sam"])
        message = queue_message(db, phone=sam.phone, body="hi", kind="flow",  # type: ignore
                                now=services.clock.now(), participant=sam)
        outbox = db.scalars(select(Outbox).where(Outbox.message_id == message.id)).one()
        outbox.state, outbox.attempts = "failed", 5
        outbox.last_error = "21610: <b>unsubscribed</b> recipient"
    page = sage.text("/staff/failed")
    assert "21610: &lt;b&gt;unsubscribed&lt;/b&gt; recipient" in page
    assert f'data-outbox="{outbox.id}"' in page


def test_flow_files_show_versions_and_file_line_problems(
        sage: Visitor, services: Any, tmp_path: Path) -> None:
    page = sage.text("/staff/flows")
    assert "weekly_checkin.yaml" in page and "Running:" in page and "</svg> Valid" in page
    assert "a fingerprint of the file&#39;s contents" in page
    from bot.flows.store import FlowStore

    folder = tmp_path / "myflows"
    folder.mkdir()
    source = Path(services.config.flows.dir)
    shutil.copy(source / "weekly_checkin.yaml", folder / "weekly_checkin.yaml")
    (folder / "broken.yaml").write_text("id: broken\nstart: a\nsteps:\n  a:\n    sayy: hi\n")
    services.flows = FlowStore(folder)
    page = sage.text("/staff/flows")
    assert re.search(r"broken\.yaml:\d+: ", page), page
    assert "Not running" in page and "problem" in page


def test_flow_page_says_when_the_engine_is_not_loaded(sage: Visitor, services: Any) -> None:
    services.flows = None
    assert "The flow engine is not loaded" in sage.text("/staff/flows")
