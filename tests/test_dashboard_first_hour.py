"""Pages that hold up for a newcomer: styled 404/500, phone tables, right counts, plain words."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.dashboard.charts import peg_checkins
from bot.models import CheckinAnswer, Escalation, Participant, Run
from tests.dashboard_support import Visitor

CSS = Path(__file__).parent.parent / "bot" / "dashboard" / "static" / "dashboard.css"
EMOJI = re.compile("[\u2300-\u23ff\u2b00-\u2bff\U0001f000-\U0001faff]")


def _login(app: Any, who: str) -> Visitor:
    visitor = Visitor(app.test_client())
    assert visitor.login(who, f"{who}-password").status_code == 302
    return visitor


def test_an_unknown_address_gets_the_styled_404(app: Any, world: dict[str, int]) -> None:
    response = app.test_client().get("/no/such/page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "dashboard.css" in page and "<h1>Not found</h1>" in page and "home page" in page
    wrong_method = app.test_client().delete("/login")
    assert wrong_method.status_code == 405 and "dashboard.css" in wrong_method.get_data(True)


def test_a_crash_gets_a_calm_500_without_the_cause(app: Any, world: dict[str, int]) -> None:
    @app.get("/boom-for-test")
    def boom() -> str:
        raise RuntimeError("secret words from a veteran")

    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    response = app.test_client().get("/boom-for-test")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "dashboard.css" in page and "Something went wrong" in page
    assert "secret words" not in page and "Traceback" not in page


def test_needs_attention_counts_only_unacknowledged_alerts(app: Any, services: Any,
                                                          world: dict[str, int]) -> None:
    with services.db.session() as db:
        alert = db.get(Escalation, world["sam_alert"])
        assert alert is not None
        alert.acknowledged_at = services.clock.now()
        alert.acknowledged_by_id = world["alex"]
    page = _login(app, "alex").text("/")
    assert re.search(r'Needs attention <span class="count"[^>]*>0</span>', page), page
    assert "1 open alert (0 not yet acknowledged)" in page
    assert "Acknowledged</span>" in page  # the card itself is still shown


def test_the_pain_table_lists_every_checkin_not_one_per_week(app: Any, services: Any,
                                                           world: dict[str, int]) -> None:
    now = services.clock.now()
    with services.db.session() as db:
        sam = db.get(Participant, world["sam"])
        assert sam is not None
        for when, pain in ((now + timedelta(minutes=5), 9), (now + timedelta(minutes=10), 3)):
            run = Run(participant_id=sam.id, flow_id="weekly_checkin", flow_version="v",
                      status="ended", started_at=when, updated_at=when)
            db.add(run)
            db.flush()
            run_id = run.id
            for variable, value in (("pain", pain), ("enjoyment", 5), ("activity", 5)):
                db.add(CheckinAnswer(participant_id=sam.id, flow_id="weekly_checkin",
                                     variable=variable, value=str(value), answered_at=when,
                                     run_id=run_id))
        answers = list(db.scalars(select(CheckinAnswer).where(
            CheckinAnswer.participant_id == sam.id)))
    rows = peg_checkins(answers, "America/New_York")
    assert [r.values["pain"] for r in rows[-2:]] == [9, 3]  # the hard one is still there
    page = _login(app, "alex").text(f"/veterans/{world['sam']}")
    table = page.split("every check-in</caption>", 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + 5  # header, 3 weekly fixtures, 2 check-ins this week
    assert '<td class="num">9</td>' in table and '<td class="num">3</td>' in table


def test_wide_staff_tables_scroll_with_a_visible_cue_on_a_phone(app: Any,
                                                               world: dict[str, int]) -> None:
    sage = _login(app, "sage")
    for url in ("/staff/", "/staff/audit"):
        assert '<div class="table-wrap wide">' in sage.text(url), url
    css = CSS.read_text()
    assert ".table-wrap.wide::before" in css and "Swipe the table sideways" in css
    assert "@media (max-width: 759px)" in css


def test_pages_draw_icons_as_svg_and_explain_p_numbers(app: Any, services: Any,
                                                       world: dict[str, int]) -> None:
    from bot.outbox.queue import queue_message

    with services.db.session() as db:
        sam = db.get(Participant, world["sam"])
        assert sam is not None
        queue_message(db, phone=sam.phone, body="Waiting text", kind="flow",
                      now=services.clock.now(), participant=sam)
    alex = _login(app, "alex")
    sage = _login(app, "sage")
    pages = [alex.text("/"), alex.text(f"/veterans/{world['sam']}"), sage.text("/staff/"),
             sage.text("/staff/flows"), sage.text("/staff/audit")]
    for page in pages:
        assert not EMOJI.search(page), EMOJI.findall(page)
        assert "P12 and the like are participant ids" in page
    assert 'class="icon icon-clock"' in pages[1]  # a waiting text, drawn not typed


def test_the_add_veteran_phone_error_is_in_plain_words(app: Any, world: dict[str, int]) -> None:
    sage = _login(app, "sage")
    bad = sage.post("/staff/veterans/new", {"name": "Kim Park", "phone": "12",
                                            "coach": str(world["alex"])})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert "***" not in page
    assert "not a complete phone number (2 digits)" in page and "(202) 555-0123" in page
