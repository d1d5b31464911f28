"""Research exports: safe to open in Excel, keyed by participant id."""

from __future__ import annotations

import csv
import io
from typing import Any

from bot.export import write_csv
from bot.models import Message
from tests.conftest import START


def _export(services: Any, kind: str) -> list[list[str]]:
    out = io.StringIO()
    with services.db.session() as session:
        write_csv(session, kind, out)
    return list(csv.reader(io.StringIO(out.getvalue(), newline="")))


def test_a_carriage_return_in_a_text_stays_inside_its_cell(services, people):
    veteran = people["participant"]
    with services.db.session() as session:
        for body in ("first line\rsecond line", "pain 7\r\nwalked yes", "ok\n=1+1"):
            session.add(Message(direction="in", participant_id=veteran, phone="+12025550123",
                                body=body, kind="participant", status="received",
                                created_at=START))
    rows = _export(services, "messages")
    assert [len(row) for row in rows] == [len(rows[0])] * 4
    assert [row[4] for row in rows[1:]] == ["first line\rsecond line", "pain 7\r\nwalked yes",
                                            "ok\n=1+1"]

