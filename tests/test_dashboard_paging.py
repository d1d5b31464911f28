"""Long lists a page at a time, the search box, reassigning per veteran, and reads that never
take SQLite's write lock (issue 15)."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.people import add_participant
from bot.flows import mtime_cache, program_files
from bot.models import AuditLog, Coach, Participant
from tests.dashboard_support import Visitor

VETERANS = 60


@pytest.fixture
def crowd(services: Any, world: dict[str, int]) -> dict[str, int]:
    """Give Alex 60 more veterans (Vet000 ... Vet059) and write 60 audit rows."""
    now = services.clock.now()
    with services.db.session() as db:
        alex = db.get(Coach, world["alex"])
        assert alex is not None
        for i in range(VETERANS):
            add_participant(db, phone=f"+1303555{i:04d}", name=f"Vet{i:03d} Crowd", coach=alex,
                            timezone="America/Chicago", now=now - timedelta(days=i))
            db.add(AuditLog(actor_id=alex.id, actor=f"web:coach:{alex.id}", action="login",
                            target_type="coach", target_id=alex.id, detail={},
                            created_at=now))
    return world


def _login(app: Any, who: str) -> Visitor:
    visitor = Visitor(app.test_client())
    assert visitor.login(who, f"{who}-password").status_code == 302
    return visitor


def _veterans_on(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-veteran="(\d+)"', page)]


def test_the_coach_home_shows_fifty_veterans_a_page_with_links_to_the_next(
        app: Any, crowd: dict[str, int]) -> None:
    alex = _login(app, "alex")
    first = alex.text("/")
    assert len(_veterans_on(first)) == 50
    assert "1–50 of 61" in first and 'aria-label="Pages of veterans"' in first
    link = re.search(r'href="(/\?veterans=2#vets-h)" rel="next"', first)
    assert link, "no link to the second page"
    second = alex.text("/?veterans=2")
    assert len(_veterans_on(second)) == 11 and "51–61 of 61" in second
    assert not set(_veterans_on(first)) & set(_veterans_on(second))
    assert 'rel="prev"' in second and 'rel="next"' not in second
    # Sam (open alert, unread words) comes first, as before paging.
    assert _veterans_on(first)[0] == crowd["sam"]
    assert alex.text("/?veterans=abc").count('data-veteran="') == 50  # nonsense: page 1


def test_the_search_box_finds_a_veteran_by_name_or_p_number(
        app: Any, services: Any, crowd: dict[str, int]) -> None:
    alex = _login(app, "alex")
    page = alex.text("/?q=vet05")
    with services.db.session() as db:
        wanted = set(db.scalars(select(Participant.id).where(Participant.name.like("Vet05%"))))
        number = min(wanted)
    assert set(_veterans_on(page)) == wanted and "matching <q>vet05</q>" in page
    assert _veterans_on(alex.text(f"/?q=P{number}")) == [number]
    assert "No veteran's name or P-number matches" in alex.text("/?q=nobody%25")
    # Staff's Everyone searches the same way, and a coach's search never finds others'.
    sage = _login(app, "sage")
    assert _veterans_on(sage.text("/staff/?q=robin")) == [crowd["robin"]]
    assert _veterans_on(alex.text("/?q=robin")) == []


def test_everyone_pages_by_name_and_reassigning_is_its_own_small_page(
        app: Any, services: Any, crowd: dict[str, int]) -> None:
    sage = _login(app, "sage")
    everyone = sage.text("/staff/")
    assert len(_veterans_on(everyone)) == 50 and "1–50 of 62" in everyone
    assert "<select" not in everyone, "no coach list on every row any more"
    sam = crowd["sam"]
    assert _veterans_on(everyone)[:2] == [crowd["robin"], sam]  # by name: Robin, Sam, Vet...
    second = sage.text("/staff/?page=2")
    assert len(_veterans_on(second)) == 12 and "Vet059 Crowd" in second
    form = sage.text(f"/staff/veterans/{sam}/reassign?next=/staff/%3Fpage%3D2")
    assert "Blake Jones (1 veteran)" in form and 'name="next" value="/staff/?page=2"' in form
    moved = sage.post(f"/staff/veterans/{sam}/reassign",
                      {"coach": str(crowd["blake"]), "next": "/staff/?page=2"})
    assert moved.status_code == 302 and moved.headers["Location"] == "/staff/?page=2"
    with services.db.session() as db:
        participant = db.get(Participant, sam)
        assert participant is not None and participant.coach_id == crowd["blake"]
    assert f"/staff/veterans/{sam}/reassign" in sage.text(f"/veterans/{sam}")
    assert _login(app, "alex").get(f"/staff/veterans/{sam}/reassign").status_code == 403
    assert sage.get("/staff/veterans/999999/reassign").status_code == 404


def test_audit_log_and_failed_sends_come_fifty_to_a_page(app: Any,
                                                       crowd: dict[str, int]) -> None:
    sage = _login(app, "sage")
    first = sage.text("/staff/audit")
    rows = first.split("<tbody>", 1)[1].count("<tr>")
    assert rows == 50 and "Older →" in first
    second = sage.text("/staff/audit?page=2")
    assert 0 < second.split("<tbody>", 1)[1].count("<tr>") <= 50 and "← Newer" in second
    assert "No failed sends" in sage.text("/staff/failed?page=3")


def test_program_files_are_read_once_until_they_change(
        app: Any, world: dict[str, int], tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real = program_files._parse_strategies

    def counting(path: Any, problems: list[str]) -> Any:
        parsed.append(str(path))
        return real(path, problems)

    monkeypatch.setattr(program_files, "_parse_strategies", counting)
    mtime_cache.forget()
    alex = _login(app, "alex")
    for _ in range(3):
        alex.text(f"/veterans/{world['sam']}")
    assert len(parsed) == 1, parsed  # three pages, each naming strategies twice: one parse
    folder = tmp_path / "flows"
    folder.mkdir()
    library = folder / "strategies.yaml"
    library.write_text("strategies:\n  - id: pacing\n    name: Pacing\n    description: Rest.\n"
                       "    reminders: [a one, a two, a three, a four]\n")
    assert list(program_files.load_strategies(folder)) == ["pacing"]
    assert list(program_files.load_strategies(folder)) == ["pacing"]
    assert len(parsed) == 2
    library.write_text(library.read_text().replace("Pacing", "Pacing well"))
    assert program_files.load_strategies(folder)["pacing"].name == "Pacing well"
    assert len(parsed) == 3


def test_read_only_pages_answer_while_a_writer_holds_the_lock(
        app: Any, services: Any, crowd: dict[str, int]) -> None:
    sage = _login(app, "sage")
    alex = _login(app, "alex")
    path = services.db.url.split("///", 1)[1]
    writer = sqlite3.connect(path, isolation_level=None, timeout=30)
    writer.execute("BEGIN IMMEDIATE")  # the webhook, mid-transaction
    took: dict[str, float] = {}
    failed: list[str] = []

    def read_pages() -> None:
        for who, url in ((sage, "/"), (sage, "/staff/"), (sage, "/staff/audit"),
                         (sage, "/staff/failed"), (sage, "/inbox"), (alex, "/"),
                         (alex, "/inbox"), (sage, "/staff/fidelity"),
                         (sage, f"/staff/veterans/{crowd['sam']}/reassign")):
            started = time.monotonic()
            if who.get(url).status_code != 200:
                failed.append(url)
            took[url] = time.monotonic() - started

    try:
        reader = threading.Thread(target=read_pages)
        reader.start()
        reader.join(timeout=20)
        assert not reader.is_alive(), f"a page waited for the writer: read {sorted(took)}"
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert not failed and max(took.values()) < 5, took
