"""Outgoing texts: valid TwiML whatever a draft holds, plain GSM-7, stored as sent."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from sqlalchemy import select

from bot.domain.nudges import draft_nudge
from bot.models import Message, Participant
from bot.sms import segments_for
from tests.conftest import COACH_PHONE, START, replies


def _draft(services: Any, participant_id: int, body: str, key: str) -> int:
    with services.db.session() as session:
        participant = session.get(Participant, participant_id)
        return draft_nudge(session, participant, body=body, reason="test", source="test",
                           event_key=key, due_at=START, now=START).id


def test_queue_with_control_characters_is_valid_twiml_and_stored_as_sent(
        sms: Any, services: Any, people: dict[str, int]) -> None:
    _draft(services, people["participant"], "Goal:\x0bwalk\x01 daily\x1b[0m ok", "k1")
    response = sms.send(COACH_PHONE, "QUEUE")
    ElementTree.fromstring(response.data)  # Twilio rejects what XML 1.0 forbids
    answer = replies(response)
    assert answer and "Goal: walk daily[0m ok" in answer[0]
    with services.db.session() as session:
        stored = session.scalars(select(Message.body).where(
            Message.direction == "out", Message.phone == COACH_PHONE)).all()
    assert stored == answer


def test_smart_punctuation_goes_out_as_plain_gsm(sms: Any, services: Any, sender: Any,
                                                 people: dict[str, int]) -> None:
    body = "“Pacing” helps – you’re doing well… keep going — Alex"
    _draft(services, people["participant"], body, "k2")
    for _ in range(12):
        _draft(services, people["participant"], "Another long draft " + "word " * 20,
               f"k-more-{_}")
    answer = replies(sms.send(COACH_PHONE, "QUEUE"))
    assert '"Pacing" helps - you\'re doing well... keep going - Alex' in answer[0]
    assert all(segments_for(text) == -(-len(text) // 153) or len(text) <= 160
               for text in answer)
    assert not any(ch in text for text in answer for ch in "“”’–—…")
