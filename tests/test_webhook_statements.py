"""The webhook's hot path (issue 15): an ordinary check-in answer costs a handful of statements.

The store (its own commit, before anything else) and the processing
transaction are counted together, on the real webhook (`client`), SQLite; a
change that adds a statement to every text fails here first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event, func, select

from bot.inbound import lockhold
from bot.models import CheckinAnswer, Message, Participant
from tests.conftest import PARTICIPANT_PHONE, replies

# store: BEGIN IMMEDIATE, INSERT ... RETURNING. Processing outside the write lock
# (bot/inbound/lockhold.py): one joined read (message, participant, coach, active run,
# previous text); then BEGIN IMMEDIATE, the joined read again (on the raw connection, counted
# by wrapping reads_unchanged), UPDATE runs, INSERT the answer, INSERT the reply, UPDATE the
# participant (last texts), UPDATE the inbound message.
HOT_PATH_STATEMENTS = 10


@contextmanager
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Collect every SQL statement any engine sends while inside, and phase B's replays."""
    seen: list[str] = []
    replay = lockhold.reads_unchanged

    def _seen(conn, cursor, statement, *args):  # noqa: ANN001, ANN202 - SQLAlchemy's hook
        seen.append(statement[:60])

    def _replayed(connection, reads):  # noqa: ANN001, ANN202 - reads_unchanged's signature
        seen.extend(f"(replay) {sql[:51]}" for sql, _, _ in reads)
        return replay(connection, reads)

    monkeypatch.setattr(lockhold, "reads_unchanged", _replayed)
    event.listen(Engine, "before_cursor_execute", _seen)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", _seen)


def test_an_ordinary_check_in_answer_costs_a_handful_of_statements(sms, services, people,
                                                                    monkeypatch):
    assert "check-in time" in replies(sms.send(PARTICIPANT_PHONE, "CHECKIN"))[0]
    with counted(monkeypatch) as seen:
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
