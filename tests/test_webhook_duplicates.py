"""A repeated MessageSid is stored once, processed once and answered the same, also in a race."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.models import ConsentEvent, Message
from tests.conftest import PARTICIPANT_PHONE, replies, sign

THREADS = 8


def post(app: Any, sid: str, body: str, phone: str = PARTICIPANT_PHONE) -> Any:
    params = {"MessageSid": sid, "From": phone, "To": "+12025550100", "Body": body,
              "NumMedia": "0"}
    return app.test_client().post("/sms/inbound", data=params,
                                  headers={"X-Twilio-Signature": sign("/sms/inbound", params)})


def notices(body: str) -> int:
    """Return the texts to the coach a body causes: words for the inbox get one notice."""
    return 0 if body == "STOP" else 1


def counts(app: Any) -> dict[str, int]:
    with app.extensions["peerline"].db.session() as session:
        def count(*where: Any) -> int:
            return int(session.scalar(select(func.count()).select_from(Message).where(*where))
                       or 0)

        return {
            "in": count(Message.direction == "in"),
            "out": count(Message.direction == "out"),
            "opt_outs": int(session.scalar(select(func.count()).select_from(ConsentEvent)
                                           .where(ConsentEvent.kind == "opt_out")) or 0),
        }


def race(app: Any, sid: str, body: str, phone: str = PARTICIPANT_PHONE) -> list[Any]:
    """Post the same message from THREADS threads released at the same moment."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = post(app, sid, body, phone)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.parametrize("body", ["hello there", "STOP"])
def test_sequential_repeat_gets_the_same_reply_and_changes_nothing(db_app, body):
    sid = f"SM{uuid.uuid4().hex}"
    first = post(db_app, sid, body)
    after_first = counts(db_app)
    for _ in range(3):
        again = post(db_app, sid, body)
        assert again.status_code == 200
        assert again.data == first.data
    assert counts(db_app) == after_first
    assert after_first["in"] == 1
    assert after_first["out"] == len(replies(first)) + notices(body) >= 1


def test_repeat_with_a_different_body_still_gets_the_first_answer(db_app):
    sid = f"SM{uuid.uuid4().hex}"
    first = post(db_app, sid, "hello")
    assert post(db_app, sid, "STOP").data == first.data
    assert counts(db_app)["opt_outs"] == 0


@pytest.mark.parametrize("body", ["hello there", "STOP"])
def test_concurrent_copies_are_processed_once(db_app, body):
    sid = f"SM{uuid.uuid4().hex}"
    responses = race(db_app, sid, body)
    assert [r.status_code for r in responses] == [200] * THREADS
    assert len({r.data for r in responses}) == 1, "every copy gets the same TwiML"
    result = counts(db_app)
    assert result["in"] == 1
    assert result["out"] == len(replies(responses[0])) + notices(body) >= 1
    assert result["opt_outs"] == (1 if body == "STOP" else 0)


def test_concurrent_copies_from_an_unknown_number_are_answered_once(db_app):
    sid = f"SM{uuid.uuid4().hex}"
    responses = race(db_app, sid, "who is this?", phone="+12025550177")
    assert len({r.data for r in responses}) == 1
    assert len(replies(responses[0])) == 1
    assert counts(db_app) == {"in": 1, "out": 1, "opt_outs": 0}


def test_different_sids_in_parallel_are_all_stored(db_app):
    """The dedupe must not swallow distinct messages that arrive together."""
    barrier = threading.Barrier(THREADS)
    codes: list[int] = []

    def worker(index: int) -> None:
        barrier.wait(timeout=10)
        codes.append(post(db_app, f"SMpar{index}x{uuid.uuid4().hex[:8]}", f"msg {index}")
                     .status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert codes == [200] * THREADS
    assert counts(db_app)["in"] == THREADS


def test_unknown_number_racing_with_different_sids_gets_one_note(db_app):
    barrier = threading.Barrier(THREADS)
    responses: list[Any] = []

    def worker(index: int) -> None:
        barrier.wait(timeout=10)
        responses.append(post(db_app, f"SMunk{index}x{uuid.uuid4().hex[:8]}", "hi?",
                              phone="+12025550177"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [r.status_code for r in responses] == [200] * THREADS
    assert sum(len(replies(r)) for r in responses) == 1
    assert counts(db_app) == {"in": THREADS, "out": 1, "opt_outs": 0}
