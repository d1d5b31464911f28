"""The webhook's hot path (issue 15): an ordinary check-in answer costs a handful of statements.

The store (its own commit, before anything else) and the processing
transaction are counted together, on the real webhook (`client`), SQLite; a
change that adds a statement to every text fails here first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event, func, select

from bot.models import CheckinAnswer, Message, Participant
from tests.conftest import PARTICIPANT_PHONE, replies

# store: BEGIN IMMEDIATE, INSERT ... RETURNING. Processing: BEGIN IMMEDIATE, one joined read
# (message lock, participant, coach, active run, previous text), UPDATE runs, INSERT the
# answer, INSERT the reply, UPDATE the participant (last texts), UPDATE the inbound message.
HOT_PATH_STATEMENTS = 9


@contextmanager
def counted() -> Iterator[list[str]]:
    """Collect every SQL statement any engine sends while inside."""
    seen: list[str] = []

    def _seen(conn, cursor, statement, *args):  # noqa: ANN001, ANN202 - SQLAlchemy's hook
        seen.append(statement[:60])

    event.listen(Engine, "before_cursor_execute", _seen)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", _seen)


def test_an_ordinary_check_in_answer_costs_a_handful_of_statements(sms, services, people):
    assert "check-in time" in replies(sms.send(PARTICIPANT_PHONE, "CHECKIN"))[0]
    with counted() as seen:
        answered = replies(sms.send(PARTICIPANT_PHONE, "about a 7 today"))
    assert "enjoyment of life" in answered[0]  # the next question, in the TwiML
    assert len(seen) == HOT_PATH_STATEMENTS, seen
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(CheckinAnswer)) == 1
        stored = session.scalars(select(Message).where(Message.direction == "in")
                                 .order_by(Message.id.desc())).first()
        assert stored.processed_at is not None and stored.run_id is not None
        assert stored.kind == "participant" and "enjoyment of life" in stored.reply_twiml
        assert session.get(Participant, people["participant"]).last_inbound_at \
            == stored.created_at
