"""Handle one inbound SMS: store it, dedupe it, then route it.

Rules (SPEC §6):
- The message is committed before any processing. If processing fails or
  the process dies, the message stays stored with `processed_at` empty and
  `recover_unprocessed` (a scheduler job) answers it later through the outbox.
- A MessageSid is processed once: the row is locked while it is processed and
  a repeat gets the stored TwiML back, also when two copies race. On SQLite
  the usual text (no crisis or concern, an enrolled participant, not STOP or
  START) is read and routed outside the write lock, which is then held only
  to check those reads again and write (bot/inbound/lockhold.py); a racing
  copy fails that check and is processed again under the lock.
- Order for an enrolled participant: crisis phrases, consent keywords
  (STOP/START/HELP), then the flow engine. Coaches go to coach commands.
  Unknown numbers get one short note a day and no flow. Crisis language from
  an unknown number or a coach (also after a command word, which still runs)
  gets the crisis reply and alerts staff (bot/inbound/crisis.py).
- The crisis screen runs first, from memory (bot/inbound/screen.py), before the
  database is touched; its verdict is passed down (route_message, the crisis
  handlers, the spool) instead of screening again, and only ever raised by
  the number's previous stored text.
- The usual text costs a handful of statements: the store (bot/inbound/store.py:
  one INSERT, its own commit), then one joined read (bot/inbound/reading.py: the row lock,
  the participant and coach, the active run, the previous text) and Core
  writes through one Writer (bot/runtime/writer.py: run, answer, reply,
  participant, message); no ORM unit-of-work flush. (On SQLite the joined
  read runs once more, on the raw connection, as lockhold.py's check.)
- The webhook's database work runs under `services.db.short_waits()`: a lock
  or statement that takes more than ~3 s counts as the database being down.
  A crisis or concern text whose store took over SLOW_STORE seconds is
  answered and spooled at once (replay processes the stored row), so the
  processing transaction's own wait cannot push its reply past 5 seconds.
- A text the database cannot take (unreachable, locked or too slow while
  storing or processing) is spooled and answered by bot/inbound/spool.py with
  the verdict's reply, and replayed when it is back. A replayed text whose staff
  were texted directly during the outage does not text them again: the
  escalation opens, its staff alerts are cancelled with that reason.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from bot.core.db import insert_once
from bot.core.once import once_key
from bot.core.phones import mask
from bot.domain.program_arc import Status
from bot.flows.keywords import consent_keyword
from bot.flows.safety import Tier, Verdict
from bot.inbound import texts
from bot.inbound.coach_sms import handle_coach_message, is_command
from bot.inbound.consent import opt_in, opt_out
from bot.inbound.crisis import handle_if_crisis, handle_other_crisis
from bot.inbound.lockhold import may_skip_lock, process_unlocked
from bot.inbound.reading import Inbound, read_inbound, read_sender
from bot.inbound.screen import UNREAD, screen_inbound, settle
from bot.inbound.spool import DATABASE_DOWN, answer_while_down, replay_if_due, spool_path
from bot.inbound.store import InboundSms, render_twiml, store_inbound
from bot.models import INBOUND, Coach, Message, OnceMark, Outbox, Participant
from bot.outbox.cancel import cancel_unsent
from bot.outbox.delivery import MessageStatus
from bot.outbox.queue import QUEUED, queue_message, reply_row
from bot.runtime.apply import Batch
from bot.services import Services

log = logging.getLogger(__name__)
RECOVER_AFTER = timedelta(minutes=2)  # longer than any webhook request may take
SLOW_STORE = 1.5  # seconds; a crisis text stored slower than this is answered at once


def handle_inbound(services: Services, sms: InboundSms,
                   verdict: Verdict | None = None) -> str | None:
    """Screen, store, then process one inbound SMS; return the TwiML reply (stored for repeats).

    None means the text could be neither stored nor spooled and needs no reply: the
    webhook answers 503 (bot/spool.py says why).
    """
    now = services.clock.now()
    if verdict is None:
        verdict = screen_inbound(services, sms.phone, sms.body, now)  # 0: from memory
    try:
        with services.db.short_waits():
            started = time.monotonic()
            message_id = store_inbound(services.db.active_engine, sms, now)  # 1: committed first
            if verdict.tier is not Tier.NONE and time.monotonic() - started > SLOW_STORE:
                # The database is struggling: answer from memory now, process on replay,
                # so a second wait cannot push the crisis reply past 5 seconds.
                return answer_while_down(services, sms, now, verdict)
            replay_if_due(services, now)  # texts spooled while the database was down go first
            return _process(services, message_id, now, verdict)  # 2: under the row's lock
    except DATABASE_DOWN:  # not stored, or stored but not processed: spooled either way
        return answer_while_down(services, sms, now, verdict)


def _process(services: Services, message_id: int, now: datetime, verdict: Verdict) -> str:
    """Process a stored message once; return its TwiML.

    On SQLite the usual text holds the write lock only to check and write
    (bot/inbound/lockhold.py); anything else is processed under the lock.
    """
    if may_skip_lock(services, verdict):
        twiml = process_unlocked(services, message_id, now, verdict, route_message)
        if twiml is not None:
            return twiml
    return _process_locked(services, message_id, now, verdict)


def _process_locked(services: Services, message_id: int, now: datetime, verdict: Verdict) -> str:
    """Process a stored message once, under its row lock; return its TwiML.

    One joined read (bot/inbound/reading.py), then one writer (bot/runtime/writer.py)
    for every row the text makes: no ORM unit-of-work flush on the usual path.
    """
    with services.db.session() as session:
        found = read_inbound(session, message_id, now)
        assert found is not None
        message = found.message
        if message.processed_at is not None:
            return message.reply_twiml or render_twiml([])
        batch = Batch(session, services, now)
        replies = route_message(session, services, message, now, verdict=verdict, batch=batch,
                                found=found)
        twiml = render_twiml(replies)
        batch.writer.set_message(message, reply_twiml=twiml, processed_at=now)
        batch.write()
        return twiml


def recover_unprocessed(services: Services, now: datetime, older_than: timedelta = RECOVER_AFTER,
                        limit: int = 100) -> int:
    """Process inbound messages a crash left stored but unanswered; replies go by the outbox.

    A message whose processing fails again is marked `error` (still visible to coaches)
    so it is not retried forever.
    """
    with services.db.session() as session:
        rows = session.execute(
            select(Message.id, Message.sid).where(Message.direction == INBOUND,
                                                  Message.processed_at.is_(None),
                                                  Message.created_at <= now - older_than)
            .order_by(Message.created_at).limit(limit)).all()
    # A text in the spool was answered by the webhook (maybe with the crisis reply): its
    # replay processes it knowing that; recovering it here would send that reply again.
    spooled = _spooled_sids(services) if rows else set()
    return sum(process_late(services, message_id, now)
               for message_id, sid in rows if sid not in spooled)


def _spooled_sids(services: Services) -> set[str]:
    """Return the MessageSids waiting in this node's spool (no stat: a replay may be deleting)."""
    try:
        return {path.stem for path in spool_path(services).glob("*.json")}
    except OSError:
        return set()


def process_late(services: Services, message_id: int, now: datetime, answered: bool = False,
                 verdict: Verdict | None = None, staff_alerted: list[str] | None = None) -> bool:
    """Process a stored message nobody answered yet; return whether this call did.

    Replies go through the outbox, except when `answered`: the webhook already
    gave them in its TwiML (a crisis reply while the database was down), so they
    are recorded as sent. `verdict` is the webhook's, when it screened the text;
    staff phones in `staff_alerted` were texted directly and get no second alert.
    A message whose processing fails is marked `error` (still visible to coaches)
    so it is not retried forever.
    """
    try:
        with services.db.session() as session:
            message = session.scalar(select(Message).where(Message.id == message_id)
                                     .with_for_update(skip_locked=True))
            if message is None or message.processed_at is not None:
                return False  # a webhook is on it, or finished it
            queued = _queued_outbox(session)
            replies = route_message(session, services, message, now, late=not answered,
                                    verdict=verdict)
            if staff_alerted:
                _cancel_repeated_alerts(session, queued, set(staff_alerted), now)
            message.reply_twiml = render_twiml(replies if answered else [])
            message.processed_at = now
            return True
    except DATABASE_DOWN:
        raise
    except Exception:  # noqa: BLE001 - one bad message must not stop the others
        log.exception("processing inbound %s late failed; marked error", message_id)
        with services.db.session() as session:
            session.execute(update(Message).where(Message.id == message_id)
                            .values(status=MessageStatus.ERROR, processed_at=now,
                                    reply_twiml=render_twiml([])))
        return False


def _queued_outbox(session: Session) -> list[int]:
    """Collect the ids of the messages this session queues from now on (bot/outbox/queue.py)."""
    queued: list[int] = []
    session.info[QUEUED] = queued
    return queued


def _cancel_repeated_alerts(session: Session, queued: list[int], phones: set[str],
                            now: datetime) -> None:
    """Cancel the staff alerts a replay queued to phones texted directly during the outage."""
    cancelled = cancel_unsent(session, now, "staff were texted directly while the database "
                              "was down", Message.id.in_(queued), Outbox.kind == "alert",
                              Outbox.to_phone.in_(sorted(phones)))
    if cancelled:
        log.info("replay: %d staff alerts not repeated (texted during the outage)", cancelled)


def _reply(session: Session, batch: Batch, *, late: bool, phone: str, body: str, kind: str,
           now: datetime, participant: Participant | None = None,
           coach_id: int | None = None) -> None:
    """Store a reply: in the TwiML now, or (`late`, after a crash) through the outbox at once.

    A late reply to a participant who is opted out once their text is processed
    (the STOP confirmation, HELP, the crisis reply) is meant for the opted-out
    number, as in the TwiML, so the sender's opt-out check must not cancel it.
    """
    if late:
        queue_message(session, phone=phone, body=body, kind=kind, now=now,
                      participant=participant, coach_id=coach_id, respect_quiet_hours=False,
                      to_participant=participant is not None and not participant.opted_out,
                      urgent=True)
    else:
        batch.writer.reply(reply_row(participant=participant, phone=phone, body=body, kind=kind,
                                     now=now, coach_id=coach_id))


def route_message(session: Session, services: Services, message: Message, now: datetime,
                  late: bool = False, verdict: Verdict | None = None,
                  batch: Batch | None = None, found: Inbound | None = None) -> list[str]:
    """Decide who sent `message` and answer it; return the reply texts.

    `verdict` is the webhook's screen of the text (None: screened here). With a
    `batch` its rows are left to the caller to write; `found` is the joined read
    of the message (else the sender is read here).
    """
    own = batch is None
    batch = batch if batch is not None else Batch(session, services, now)
    replies = _route(session, services, message, now, late, verdict, batch, found)
    if own:
        batch.write()
    return replies


def _route(session: Session, services: Services, message: Message, now: datetime, late: bool,
           verdict: Verdict | None, batch: Batch, found: Inbound | None) -> list[str]:
    writer = batch.writer
    if found is None:
        verdict = settle(session, services, message, verdict)
        participant, coach_phone_id = read_sender(session, message.phone)
    else:
        verdict = settle(session, services, message, verdict,
                         found.previous if found.previous_known else UNREAD)
        participant, coach_phone_id = found.participant, found.coach_phone_id
    coach = None
    if participant is None or coach_phone_id is not None:
        coach = session.scalar(select(Coach).where(Coach.phone == message.phone, Coach.active))
    if coach is not None:
        writer.set_message(message, kind="coach", coach_id=coach.id)

        # Crisis first, also after a command word ("ACK 1 ..."): peers live with pain too.
        replies = handle_other_crisis(session, services, message, now,
                                      sender=f"coach {coach.name} (#{coach.id})",
                                      verdict=verdict)
        if replies is None or is_command(message.body):  # a valid command still runs
            replies = (replies or []) + handle_coach_message(session, services, coach,
                                                             message.body, now)
        for text in replies:
            _reply(session, batch, late=late, phone=coach.phone or "", body=text,
                   kind="coach_reply", now=now, coach_id=coach.id)
        return replies
    if participant is None:
        replies = _answer_unknown(session, services, message, now, verdict)
        for text in replies:
            _reply(session, batch, late=late, phone=message.phone, body=text, kind="reply",
                   now=now)
        return replies
    writer.set_message(message, kind="participant", participant_id=participant.id,
                       coach_id=participant.coach_id)
    writer.set_participant(participant, "last_inbound_at", now)
    if found is not None:
        batch.active.setdefault(participant.id, found.runs)  # read with the message
    log.info("inbound %s from participant %s", message.id, participant.id)
    replies = _route_participant(session, services, participant, message, now, verdict, batch)
    for text in replies:
        _reply(session, batch, late=late, phone=participant.phone, body=text, kind="reply",
               now=now, participant=participant, coach_id=participant.coach_id)
    if replies:
        writer.set_participant(participant, "last_outbound_at", now)
    return replies


def _route_participant(session: Session, services: Services, participant: Participant,
                       message: Message, now: datetime, verdict: Verdict,
                       batch: Batch) -> list[str]:

    crisis_replies = handle_if_crisis(session, services, participant, message, now,
                                      verdict=verdict)
    if crisis_replies is not None:
        return crisis_replies
    config = services.config
    keyword = consent_keyword(message.body)
    if keyword == "stop":
        changed = opt_out(session, participant.id, method=f"sms:{message.body.strip()[:20]}",
                          now=now, message_id=message.id)
        return [texts.opted_out(config)] if changed else []
    if participant.status == Status.WITHDRAWN:  # left the program: crisis above, HELP, else quiet
        return [texts.help_text(config, participant)] if keyword == "help" else []
    if participant.status == Status.OPTED_OUT:
        if keyword == "start":
            opt_in(session, participant.id, method="sms:START", now=now, message_id=message.id)
            return [texts.opted_in(config, participant)]
        if keyword == "help":
            return [texts.help_text(config, participant)]
        return []  # nothing more to an opted-out number
    if keyword == "help":
        return [texts.help_text(config, participant)]

    return batch.reply(participant, message)


UNKNOWN_MARK = once_key("unknown", "")  # a prefix: one note per number per day
UNKNOWN_MARK_KEPT = timedelta(days=2)


def prune_unknown_marks(session: Session, now: datetime) -> int:
    """Delete the marks of unknown numbers from before yesterday; return how many.

    They hold phone numbers of people not in the program, and nothing reads them
    after their day. Other once-marks are left alone. (A scan: run it daily.)
    """
    result = cast(CursorResult[Any], session.execute(delete(OnceMark).where(
        OnceMark.key.startswith(UNKNOWN_MARK), OnceMark.created_at < now - UNKNOWN_MARK_KEPT)))
    return int(result.rowcount or 0)


def _answer_unknown(session: Session, services: Services, message: Message, now: datetime,
                    verdict: Verdict) -> list[str]:
    log.info("inbound %s from unenrolled number %s", message.id, mask(message.phone))

    crisis_replies = handle_other_crisis(session, services, message, now,
                                         sender="a number not enrolled", verdict=verdict)
    if crisis_replies is not None:
        return crisis_replies
    if consent_keyword(message.body) == "stop":
        return []  # someone who asks us to stop gets no note about the program
    key = once_key("unknown", message.phone, now.date().isoformat())
    if session.get(OnceMark, key) is not None:
        return []
    if not insert_once(session, OnceMark(key=key, created_at=now)):  # two racing texts: one note
        return []
    return [texts.unknown_number(services.config)]
