"""SPEC §11 on the dashboard: inbox, relay box, contact log, contact due, phone, page order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.models import Contact, InboxItem, Message, Outbox, Participant
from tests.conftest import COACH_PHONE, PARTICIPANT_PHONE, Sms
from tests.dashboard_support import Visitor


def _alex(app: Any) -> Visitor:
    visitor = Visitor(app.test_client())
    visitor.login("alex", "alex-password")
    return visitor


def _inbox(services: Any) -> list[InboxItem]:
    with services.db.session() as db:
        return list(db.scalars(select(InboxItem).order_by(InboxItem.id)))


def test_inbox_shows_unread_newest_first_and_the_veterans_page_marks_read(
        app: Any, services: Any, world: dict[str, int], clock: Any) -> None:
    sms = Sms(app.test_client())
    sms.send(PARTICIPANT_PHONE, "first words about my knee")
    clock.advance(timedelta(minutes=5))
    sms.send(PARTICIPANT_PHONE, "second words about my sleep")
    sms.send("+12025550124", "Robin private inbox words")  # Blake's veteran
    alex = _alex(app)
    home = alex.text("/")
    assert 'data-home-unread="2"' in home and 'data-unread="2"' in home
    page = alex.text("/inbox")
    assert page.index("second words") < page.index("first words")  # newest first
    assert "Robin private" not in page
    assert page.count('data-read="no"') == 2
    vet = alex.text(f"/veterans/{world['sam']}")
    assert vet.count("New for you") == 2  # the thread marks what was unread
    assert all(item.read_at is not None for item in _inbox(services)
               if item.participant_id == world["sam"])
    page = alex.text("/inbox")
    assert page.count('data-read="yes"') == 2 and 'data-home-unread="0"' in alex.text("/")
    item = _inbox(services)[0]
    alex.post(f"/inbox/{item.id}/unread", data={})
    assert 'data-home-unread="1"' in alex.text("/")
    robin_item = _inbox(services)[-1]
    assert alex.post(f"/inbox/{robin_item.id}/unread", data={}).status_code == 404


def test_inbox_pages_hold_25_each(app: Any, services: Any, world: dict[str, int],
                                  clock: Any) -> None:
    sms = Sms(app.test_client())
    for n in range(27):
        clock.advance(timedelta(minutes=1))
        sms.send(PARTICIPANT_PHONE, f"note number {n:02d}")
    alex = _alex(app)
    first = alex.text("/inbox")
    assert first.count("data-inbox=") == 25 and "note number 26" in first
    assert "Older" in first and "note number 01" not in first
    second = alex.text("/inbox?page=2")
    assert second.count("data-inbox=") == 2 and "note number 00" in second
    assert alex.get("/inbox?page=abc").status_code == 200


def test_compose_box_relays_signed_and_logs_a_text_contact(
        app: Any, services: Any, world: dict[str, int]) -> None:
    alex = _alex(app)
    alex.post(f"/veterans/{world['sam']}/compose", data={"body": "Call you at 4? \u2026"})
    with services.db.session() as db:
        message = db.scalars(select(Message).where(Message.kind == "compose")).one()
        contact = db.scalars(select(Contact)).one()
    assert message.body == "Call you at 4? ... -Alex" and COACH_PHONE not in message.body
    assert (contact.kind, contact.via) == ("text", "relay")
    vet = alex.text(f"/veterans/{world['sam']}")
    assert "(relayed text)" in vet


def test_compose_refuses_more_than_three_texts(app: Any, services: Any,
                                               world: dict[str, int]) -> None:
    alex = _alex(app)
    page = alex.post(f"/veterans/{world['sam']}/compose", data={"body": "word " * 100},
                     follow_redirects=True).get_data(as_text=True)
    assert "That is 505 characters (4 texts)" in page
    with services.db.session() as db:
        assert db.scalars(select(Outbox)).all() == []


def test_contact_form_logs_date_kind_minutes_topics_note(app: Any, services: Any,
                                                         world: dict[str, int]) -> None:
    alex = _alex(app)
    page = alex.post(f"/veterans/{world['sam']}/contacts",
                     data={"date": "2026-12-05", "kind": "visit", "minutes": "45",
                           "topics": ["pacing", "relaxation", "not-a-topic"],
                           "note": "walked together"},
                     follow_redirects=True).get_data(as_text=True)
    assert "Logged: visit with Sam." in page
    with services.db.session() as db:
        contact = db.scalars(select(Contact)).one()
    assert (contact.kind, contact.minutes, contact.topics, contact.note, contact.via) == (
        "visit", 45, ["pacing", "relaxation"], "walked together", "web")
    assert contact.contact_at.date().isoformat() == "2026-12-05"
    assert "Pacing, Relaxation &amp; breathing" in page and "walked together" in page
    bad = alex.post(f"/veterans/{world['sam']}/contacts", data={"kind": "call",
                                                                 "minutes": "ten"},
                    follow_redirects=True).get_data(as_text=True)
    assert "Minutes must be a whole number" in bad
    future = alex.post(f"/veterans/{world['sam']}/contacts",
                       data={"kind": "call", "date": "2027-01-05"},
                       follow_redirects=True).get_data(as_text=True)
    assert "in the future" in future
    assert alex.post(f"/veterans/{world['robin']}/contacts",
                     data={"kind": "call"}).status_code == 404


def test_last_contact_is_human_and_contact_due_sorts_home(
        app: Any, services: Any, world: dict[str, int], clock: Any) -> None:
    with services.db.session() as db:
        kim = Participant(phone="+12025550125", name="Kim Park", coach_id=world["alex"],
                          timezone="America/New_York", enrolled_at=clock.now())
        db.add(kim)
        db.flush()
        kim_id = kim.id
        sam = db.get(Participant, world["sam"])
        assert sam is not None
        sam.last_outbound_at = clock.now()  # an automated text: not a contact
    clock.advance(timedelta(days=15))
    alex = _alex(app)
    with services.db.session() as db:  # resolve Sam's alert so sorting is by contact alone
        from bot.models import Escalation
        for e in db.scalars(select(Escalation)):
            e.resolved_at = clock.now()
    alex.post(f"/veterans/{kim_id}/contacts", data={"kind": "call", "minutes": "10"})
    home = alex.text("/")
    sam_card = home.split(f'data-veteran="{world["sam"]}"')[1].split("</li>")[0]
    kim_card = home.split(f'data-veteran="{kim_id}"')[1].split("</li>")[0]
    assert "Contact due" in sam_card and "Contact due" not in kim_card
    assert "<dt>Last contact</dt><dd>never</dd>" in sam_card  # automated texts do not count
    assert home.index(f'data-veteran="{world["sam"]}"') < home.index(f'data-veteran="{kim_id}"')


def test_staff_see_overdue_pairs(app: Any, services: Any, world: dict[str, int],
                                 clock: Any) -> None:
    clock.advance(timedelta(days=29))
    sage = Visitor(app.test_client())
    sage.login("sage", "sage-password")
    home = sage.text("/")
    assert f'data-overdue="{world["sam"]}"' in home and f'data-overdue="{world["robin"]}"' in home
    alex = _alex(app)
    alex.post(f"/veterans/{world['sam']}/contacts", data={"kind": "call"})
    home = sage.text("/")
    assert f'data-overdue="{world["sam"]}"' not in home
    assert 'id="overdue-h"' not in alex.text("/")  # coaches see their own badges instead


def test_own_coach_sees_a_tel_link_staff_do_not(app: Any, world: dict[str, int]) -> None:
    vet = _alex(app).text(f"/veterans/{world['sam']}")
    assert f'href="tel:{PARTICIPANT_PHONE}"' in vet
    sage = Visitor(app.test_client())
    sage.login("sage", "sage-password")
    assert "tel:" not in sage.text(f"/veterans/{world['sam']}")


def test_veteran_page_leads_with_alerts_contact_peg_goal_then_conversation(
        app: Any, services: Any, world: dict[str, int], clock: Any) -> None:
    from bot.models import CheckinAnswer
    with services.db.session() as db:
        db.add(CheckinAnswer(participant_id=world["sam"], flow_id="goal", variable="goal_what",
                             value="walk to the mailbox", answered_at=clock.now()))
    vet = _alex(app).text(f"/veterans/{world['sam']}")
    order = [vet.index(marker) for marker in (
        'id="alerts-h"', "data-contact-due", "data-latest-peg", "walk to the mailbox",
        'class="peg-chart"', 'id="thread-h"', 'id="contacts-h"')]
    assert order == sorted(order), list(zip(order, (
        "alerts", "contact due", "latest PEG", "goal", "chart", "thread", "contacts"),
        strict=True))


def test_conversation_is_paged(app: Any, services: Any, world: dict[str, int],
                               clock: Any) -> None:
    with services.db.session() as db:
        for n in range(35):
            db.add(Message(direction="in", participant_id=world["sam"], phone=PARTICIPANT_PHONE,
                           body=f"old message {n:02d}", kind="participant", status="received",
                           created_at=clock.now() - timedelta(days=10, minutes=-n)))
    alex = _alex(app)
    first = alex.text(f"/veterans/{world['sam']}")
    assert "old message 34" in first and "old message 00" not in first
    assert "Older messages" in first
    second = alex.text(f"/veterans/{world['sam']}?page=2")
    assert "old message 00" in second and "Newer messages" in second


def test_alert_page_shows_the_words_and_the_number_to_the_own_coach_and_staff(
        app: Any, services: Any, world: dict[str, int]) -> None:
    Sms(app.test_client()).send(PARTICIPANT_PHONE, "I want to end my life tonight")
    Sms(app.test_client()).send(PARTICIPANT_PHONE, "COACH")
    from bot.models import Escalation
    with services.db.session() as db:
        crisis = db.scalars(select(Escalation).where(Escalation.kind == "crisis",
                                                     Escalation.message_id.is_not(None))).one()
        assert db.scalars(select(Escalation).where(Escalation.kind == "coach_request")).one()
    alex = _alex(app)
    page = alex.text(f"/escalations/{crisis.id}")
    assert "I want to end my life tonight" in page and f'href="tel:{PARTICIPANT_PHONE}"' in page
    assert "Asked for you" in alex.text("/")
    sage = Visitor(app.test_client())  # staff too (SPEC 10): they resolve crisis alerts
    sage.login("sage", "sage-password")
    assert f'href="tel:{PARTICIPANT_PHONE}"' in sage.text(f"/escalations/{crisis.id}")
    blake = Visitor(app.test_client())  # another coach: not theirs
    blake.login("blake", "blake-password")
    assert blake.get(f"/escalations/{crisis.id}").status_code == 404


def test_staff_read_every_inbox_without_marking_it_read(app: Any, services: Any,
                                                         world: dict[str, int]) -> None:
    Sms(app.test_client()).send(PARTICIPANT_PHONE, "words for Alex")
    sage = Visitor(app.test_client())
    sage.login("sage", "sage-password")
    assert "words for Alex" in sage.text("/inbox")
    sage.text(f"/veterans/{world['sam']}")
    assert [item.read_at for item in _inbox(services)] == [None]
