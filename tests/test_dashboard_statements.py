"""No N+1 on the dashboard: each page's SQL statements do not grow with the number of veterans.

The same small program is built twice, with 20 and with 40 veterans (3 coaches,
staff, drafts, alerts, inbox words, contacts, PEG answers, failed sends, audit
rows), and every page is fetched by the people who use it. A page must run the
same number of statements at both sizes, and few of them. Transaction control
(BEGIN, COMMIT, PRAGMA) is not counted: it depends on which pooled connection
a request gets, not on the page.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot import create_app
from bot.core.clock import FrozenClock
from bot.domain.people import add_coach, add_participant
from bot.models import AuditLog, Contact, InboxItem, Message, Outbox
from bot.services import build_services
from tests.conftest import START, RecordingSender, make_config
from tests.dashboard_support import Visitor, add_answers, add_escalation, add_nudge

CEILING = 30  # statements any one page may run, whatever the size of the program
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE")


def _build(session: Any, veterans: int) -> dict[str, int]:
    """Enrol three coaches, staff and `veterans` veterans with some of everything."""
    now = START
    coaches = [add_coach(session, name=f"Coach{i} Test", phone=f"+1202555{i:04d}", now=now,
                         username=f"coach{i}", password="coach-password")
               for i in range(3)]
    add_coach(session, name="Sage Staff", phone=None, now=now, role="staff", username="sage",
              password="sage-password")
    ids: dict[str, int] = {}
    for i in range(veterans):
        coach = coaches[0] if i % 2 == 0 else coaches[1 + i % 2]  # coach0 has half
        p = add_participant(session, phone=f"+1303555{i:04d}", name=f"Vet{i:03d} Person",
                            coach=coach, timezone="America/Chicago",
                            now=now - timedelta(days=40 + i))
        add_nudge(session, p, f"s:{i}", f"Hi {p.first_name}, keep pacing.", now)
        alert = add_escalation(session, p, f"s:e:{i}", now, urgent=i % 6 == 0) if i % 3 == 0 \
            else None
        text = Message(direction="in", participant_id=p.id, phone=p.phone, body="a word",
                       kind="participant", status="received", created_at=now - timedelta(hours=i))
        out = Message(direction="out", participant_id=p.id, phone=p.phone, body="program text",
                      kind="flow", status="failed", created_at=now - timedelta(hours=i),
                      coach_id=coach.id)
        session.add_all([text, out])
        session.flush()
        session.add(InboxItem(participant_id=p.id, coach_id=coach.id, message_id=text.id,
                              created_at=text.created_at,
                              read_at=None if i % 2 else now))
        if i % 5 == 0:
            session.add(Outbox(message_id=out.id, kind="flow", to_phone=p.phone, state="failed",
                               due_at=now, created_at=now, attempts=5, last_error="30003"))
        if i % 4:
            session.add(Contact(participant_id=p.id, coach_id=coach.id, kind="call", minutes=10,
                                topics=[], note="", via="web", contact_at=now - timedelta(days=i),
                                created_at=now))
        add_answers(session, p, now, [(7, 6, 6), (6, 5, 5), (5, 4, 4)])
        session.add(AuditLog(actor_id=coach.id, actor=f"web:coach:{coach.id}",
                             action="participant.view", target_type="participant",
                             target_id=p.id, detail={}, created_at=now))
        if i == 0:
            ids = {"veteran": p.id, "alert": alert.id if alert else 0}
    return ids


class Counter:
    """Count the SQL statements an engine runs (not transaction control)."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(CONTROL):
            self.count += 1


def _pages(ids: dict[str, int]) -> dict[str, tuple[str, str]]:
    vid, eid = ids["veteran"], ids["alert"]
    return {
        "coach home": ("coach0", "/"),
        "coach inbox": ("coach0", "/inbox"),
        "veteran page": ("coach0", f"/veterans/{vid}"),
        "veteran page, older": ("coach0", f"/veterans/{vid}?page=2"),
        "alert": ("coach0", f"/escalations/{eid}"),
        "password form": ("coach0", "/account/password"),
        "staff home": ("sage", "/"),
        "staff home, page 2": ("sage", "/?veterans=2&drafts=2"),
        "staff home, search": ("sage", "/?q=vet01"),
        "everyone": ("sage", "/staff/"),
        "everyone, search": ("sage", "/staff/?q=P3"),
        "reassign form": ("sage", f"/staff/veterans/{vid}/reassign"),
        "staff inbox": ("sage", "/inbox"),
        "staff veteran page": ("sage", f"/veterans/{vid}"),
        "audit log": ("sage", "/staff/audit"),
        "failed sends": ("sage", "/staff/failed"),
        "fidelity": ("sage", "/staff/fidelity"),
        "add veteran": ("sage", "/staff/veterans/new"),
        "flows": ("sage", "/staff/flows"),
        "exports": ("sage", "/staff/exports"),
    }


def _measure(url: str, veterans: int) -> dict[str, int]:
    """Build the program on database `url`; return each page's statement count."""
    services = build_services(make_config(url), clock=FrozenClock(START),
                              sender=RecordingSender())
    try:
        with services.db.session() as session:
            ids = _build(session, veterans)
        app = create_app(services=services)
        app.config.update(TESTING=True)
        visitors: dict[str, Visitor] = {}
        counter = Counter(services.db.engine)
        found = {}
        for name, (who, path) in _pages(ids).items():
            if who not in visitors:
                visitors[who] = Visitor(app.test_client())
                assert visitors[who].login(who, f"{who}-password" if who == "sage"
                                           else "coach-password").status_code == 302
            visitors[who].text(path)  # warm: first-use caches, pooled connections
            counter.count = 0
            visitors[who].text(path)
            found[name] = counter.count
        return found
    finally:
        services.db.dispose()


@pytest.fixture
def two_databases(tmp_path: Any, sqlite_template: str) -> Iterator[tuple[str, str]]:
    urls = []
    for name in ("small", "large"):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copyfile(sqlite_template, folder / "peerline.db")
        urls.append(f"sqlite:///{os.path.join(folder, 'peerline.db')}")
    yield urls[0], urls[1]


def test_no_page_runs_more_statements_for_more_veterans(
        two_databases: tuple[str, str]) -> None:
    small = _measure(two_databases[0], 20)
    large = _measure(two_databases[1], 40)
    grew = {page: (small[page], large[page]) for page in small if large[page] != small[page]}
    assert not grew, f"statements grew with the number of veterans (20 -> 40): {grew}"
    too_many = {page: n for page, n in large.items() if n > CEILING}
    assert not too_many, f"pages over {CEILING} statements: {too_many}"
    print("statements per page:", large)  # noqa: T201 - shown with -s, for the report
