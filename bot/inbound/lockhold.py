"""Process a stored text outside SQLite's write lock, then hold the lock only to check and write.

Why (issue 15, docs/performance.md "Write lock held per text"): SQLite has one
write lock per database. Processing a text under it (BEGIN IMMEDIATE, the
joined read, routing, the flow engine, the writes) held it ~4 ms of a ~5 ms
text, so gunicorn's workers took turns on one lock instead of using two cores.

Rules:
- Only on the webhook's SQLite engine, and only for a text the screen found
  no crisis or concern in, from an enrolled participant whose phone is not a
  coach's, that is not STOP or START. Everything else (crisis, concern, STOP,
  START, coach commands, unknown numbers, PostgreSQL, whose row lock does not
  serialise writers) takes the locked path (bot/inbound/pipeline.py).
- Phase A, without the lock: the joined read, routing and the flow engine run
  as usual on a connection that begins no transaction; every row they make
  waits in the Batch's Writer (`deferred`), and the connection logs the rows
  each read returned (bot/core/db.unlocked_reads). A statement that would
  write (crisis alerts, opt-outs, concern questions, once-marks, any ORM
  flush) raises WriteOutsideLock before it runs: the text goes the locked way.
- Phase B, under the lock (BEGIN IMMEDIATE): every read of phase A runs again
  (bot/core/db.reads_unchanged). If each returns the same rows, the rows the
  Writer holds are the ones processing under the lock would make now, since
  processing decides only from those reads, the stored text and memory (the
  time, the flows, the config): they are written and committed. (Each read
  of phase A may have seen a different commit; that does not matter, since
  all of them are checked against the one state the lock holds.) If any read
  differs (the text was processed by a racing copy, the participant, their
  coach, runs or answers changed), nothing is written and the text is
  processed again the locked way, from scratch.
- So a MessageSid is still processed once (a racing copy sees the stored
  reply, or fails the check), two texts of one veteran never both advance one
  run step (the second fails the check on the run's row), and store before
  process is unchanged (the store is committed before phase A).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.core.db import WriteOutsideLock, logs_reads, reads_unchanged, unlocked_reads
from bot.flows.keywords import consent_keyword
from bot.flows.safety import Tier, Verdict
from bot.inbound.reading import Inbound, read_inbound
from bot.inbound.store import render_twiml
from bot.runtime.apply import Batch
from bot.services import Services

Route = Callable[..., list[str]]  # pipeline.route_message
LOCKED_KEYWORDS = frozenset({"stop", "start"})  # they write the consent rows themselves


def may_skip_lock(services: Services, verdict: Verdict) -> bool:
    """Tell whether a text with `verdict` may be processed outside the write lock."""
    return verdict.tier is Tier.NONE and services.db.active_engine.dialect.name == "sqlite"


def process_unlocked(services: Services, message_id: int, now: datetime, verdict: Verdict,
                     route: Route) -> str | None:
    """Process stored message `message_id` (phases A and B); None: take the locked path."""
    with services.db.active_engine.connect() as connection:
        if not logs_reads(connection):
            return None  # an in-memory database shares the main engine
        session = services.db.sessions(bind=connection)
        try:
            with unlocked_reads(connection) as reads:
                planned = _plan(session, services, message_id, now, verdict, route)
            if planned is None or isinstance(planned, str):
                return planned
            twiml, batch = planned
            session.connection()  # BEGIN IMMEDIATE: phase B
            if not reads_unchanged(connection, reads):
                session.rollback()
                return None  # something it read changed: redo it under the lock
            batch.writer.deferred = False
            batch.write()
            session.commit()
            return twiml
        except WriteOutsideLock:
            session.rollback()
            return None
        finally:
            session.close()


def _plan(session: Session, services: Services, message_id: int, now: datetime,
          verdict: Verdict, route: Route) -> tuple[str, Batch] | str | None:
    """Phase A: route the text, collecting its rows; its TwiML and batch, a repeat's, or None."""
    found = read_inbound(session, message_id, now)
    if found is None:
        return None
    message = found.message
    if message.processed_at is not None:  # final once committed: no lock needed to answer
        return message.reply_twiml or render_twiml([])
    if not _usual(found):
        return None
    batch = Batch(session, services, now)
    batch.writer.deferred = True
    replies = route(session, services, message, now, verdict=verdict, batch=batch, found=found)
    twiml = render_twiml(replies)
    batch.writer.set_message(message, reply_twiml=twiml, processed_at=now)
    session.commit()  # ends phase A; an ORM change would flush here and raise WriteOutsideLock
    return twiml, batch


def _usual(found: Inbound) -> bool:
    """Tell whether the text is one phase A can take: a participant's, not STOP or START."""
    body: Any = found.message.body
    return (found.participant is not None and found.coach_phone_id is None
            and consent_keyword(body or "") not in LOCKED_KEYWORDS)
