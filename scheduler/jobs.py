"""The scheduler's periodic jobs: top-level functions of (services, now) that act on what is due.

Every job:
- finds its work with an indexed query of what is due now, never a loop over
  every participant;
- is idempotent: unique keys (once-marks, event keys, wait tokens) make a
  second run at the same instant, or a concurrent `tick`, do nothing;
- returns a one-line summary, printed by `peerline tick`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, exists, func, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.once import once_key
from bot.domain.escalations import notify_staff
from bot.domain.inbox import COACH_REQUEST, COACH_REQUEST_STAFF_AFTER
from bot.domain.nudges import NudgeStatus
from bot.domain.retention import describe, purge
from bot.inbound import concern
from bot.inbound.pipeline import prune_unknown_marks, recover_unprocessed
from bot.inbound.spool import replay_spool
from bot.models import Coach, Escalation, Nudge, OnceMark
from bot.outbox.queue import PRIORITY_ALERT, queue_message
from bot.runtime import apply as runtime
from bot.sending.sender import OutboxSender
from bot.services import Services
from scheduler.arc import due_arc_events
from scheduler.checkins import due_checkins, mark_zone_done, zone_done
from scheduler.contact_due import contact_due_reminders
from scheduler.each import each
from scheduler.nudge_schedules import draft_scheduled_nudges

log = logging.getLogger(__name__)
BATCH = 5000  # most rows one job handles in one pass; the rest wait for the next pass
CHUNK = 500  # timeouts or expiries written by one transaction (one writer)
DIGEST_WINDOW_HOURS = 4  # a digest missed at digest_hour (scheduler down) still goes this late

Job = Callable[[Services, datetime], str]
T = TypeVar("T")


def _in_batches(services: Services, now: datetime, due: list[T],
                act: Callable[[runtime.Batch, list[T]], int],
                one: Callable[[Session, T], Any], what: str) -> int:
    """Act on the due items CHUNK at a time, each chunk one transaction and one writer.

    A chunk that fails is redone item by item (`one`), each in its own transaction,
    so one broken row does not stop the others.
    """
    done = 0
    for start in range(0, len(due), CHUNK):
        chunk = due[start:start + CHUNK]
        try:
            with services.db.session() as session:
                batch = runtime.Batch(session, services, now)
                acted = act(batch, chunk)
                batch.write()
            done += acted
        except Exception:  # noqa: BLE001 - a clash or a broken row: redo one by one
            log.info("%s: a chunk of %d failed; retrying one by one", what, len(chunk))
            done += each(services, chunk, one, what)
    return done


def due_timeouts(services: Services, now: datetime) -> str:
    """Fire the timeout of every waiting step whose time has passed (once, by wait token)."""
    with services.db.session() as session:
        due = runtime.due_timeouts(session, now, limit=BATCH)
    fired = _in_batches(services, now, due, runtime.Batch.timeouts,
                        lambda session, row: runtime.fire_timeout(session, services, row[0],
                                                                  row[1], now),
                        "timeout of run")
    return f"{fired} timeouts fired"


def due_expiries(services: Services, now: datetime) -> str:
    """End every unfinished run whose `expire_after` has passed."""
    with services.db.session() as session:
        due = runtime.due_expiries(session, now, limit=BATCH)
    expired = _in_batches(services, now, due, runtime.Batch.expiries,
                          lambda session, run_id: runtime.expire_run(session, services, run_id,
                                                                     now),
                          "expiry of run")
    return f"{expired} runs expired"


def concern_timeouts(services: Services, now: datetime) -> str:
    """Alert the coach about concern questions unanswered for 30 minutes (once each)."""
    with services.db.session() as session:
        due = concern.due(session, now, limit=BATCH)
    fired = each(services, due, lambda session, concern_id: concern.fire_silence(
        session, services, concern_id, now), "concern timeout")
    return f"{fired} unanswered concern questions sent to coaches"


def escalate_to_staff(services: Services, now: datetime) -> str:
    """Text staff about escalations no coach acknowledged in time (once).

    In time: `safety.staff_after`; a veteran's COACH request: 24 hours.
    """
    cutoff = now - services.config.safety.staff_after.delta
    # The clock starts when the coach's text left (a non-urgent one waits for their day).
    started = func.coalesce(Escalation.coach_notified_at, Escalation.created_at)
    is_request = Escalation.kind == COACH_REQUEST
    with services.db.session() as session:
        due = session.scalars(
            select(Escalation.id).where(Escalation.acknowledged_at.is_(None),
                                        Escalation.resolved_at.is_(None),
                                        Escalation.staff_notified_at.is_(None),
                                        Escalation.created_at <= cutoff,
                                        or_(and_(~is_request, started <= cutoff),
                                            and_(is_request,
                                                 started <= now - COACH_REQUEST_STAFF_AFTER)))
            .order_by(Escalation.id).limit(BATCH)).all()
    texts = 0
    for escalation_id in due:
        with services.db.session() as session:
            escalation = session.get(Escalation, escalation_id, with_for_update=True)
            if escalation is None or escalation.acknowledged_at or escalation.staff_notified_at:
                continue
            texts += notify_staff(session, services, escalation, escalation.participant, now)
    return f"{len(due)} escalations sent to staff ({texts} texts)"


def digest_text(count: int) -> str:
    """Return the daily digest a coach gets when drafts wait for them."""
    drafts = "1 draft waits" if count == 1 else f"{count} drafts wait"
    return (f"PeerLine: {drafts} for your OK. Reply QUEUE to see them, "
            "OK ID to send one, NO ID to drop it, EDIT ID text to change it.")


def coach_digests(services: Services, now: datetime) -> str:
    """Text each coach with pending drafts once a day, at `scheduler.digest_hour` local time."""
    hour = int(services.config.scheduler.digest_hour)
    pending = ((Nudge.coach_id == Coach.id) & (Nudge.status == NudgeStatus.PENDING)
               & Nudge.paused.is_(False))
    with services.db.session() as session:
        zones = session.scalars(select(Coach.timezone).where(
            Coach.active, Coach.role == "coach", Coach.phone.is_not(None),
            exists().where(pending)).distinct()).all()
    sent = 0
    for zone in zones:
        local = now.astimezone(ZoneInfo(zone))
        if not hour <= local.hour < hour + DIGEST_WINDOW_HOURS:
            continue
        prefix = once_key("digest", local.date().isoformat(), "")
        key = literal(prefix, String) + cast(Coach.id, String)
        with services.db.session() as session:
            rows = session.execute(
                select(Coach.id, Coach.phone, func.count(Nudge.id))
                .join(Nudge, pending)
                .where(Coach.timezone == zone, Coach.active, Coach.role == "coach",
                       Coach.phone.is_not(None), ~exists().where(OnceMark.key == key))
                .group_by(Coach.id, Coach.phone)).all()
        for coach_id, phone, count in rows:
            assert phone is not None  # the query takes only coaches with a phone
            try:
                with services.db.session() as session:
                    session.add(OnceMark(key=f"{prefix}{coach_id}", created_at=now))
                    session.flush()
                    queue_message(session, phone=phone, body=digest_text(count), kind="digest",
                                  now=now, coach_id=coach_id, to_participant=False,
                                  respect_quiet_hours=True,  # not urgent: the coach's day
                                  priority=PRIORITY_ALERT,
                                  not_after=now + timedelta(hours=DIGEST_WINDOW_HOURS))
                sent += 1
            except IntegrityError:
                continue  # a concurrent pass sent it
    return f"{sent} coach digests queued"


def send_outbox(services: Services, now: datetime) -> str:
    """Send the due outbox rows (the runner's sender thread, else a one-pass sender)."""
    sender = services.outbox_sender
    if sender is not None and getattr(sender, "_thread", None) is not None:
        sender.wake()
        return "sender woken"

    own = sender or OutboxSender(services)
    try:
        return str(own.drain())
    finally:
        if sender is None:
            own.stop()


def recover_inbound(services: Services, now: datetime) -> str:
    """Answer texts spooled while the database was down, then those a crash left unprocessed.

    Once a day it also prunes the unknown-number marks nothing reads any more.
    """

    replayed = replay_spool(services, now)
    summary = (f"{replayed} spooled and {recover_unprocessed(services, now)} unanswered "
               "inbound texts recovered")
    pruned, day_key = 0, once_key("prune", "unknown", now.date().isoformat())
    if not zone_done(services, day_key):  # once a day: the marks have no index for this
        with services.db.session() as session:
            pruned = prune_unknown_marks(session, now)
        mark_zone_done(services, day_key, now)
    return summary + (f"; {pruned} old unknown-number marks pruned" if pruned else "")


def purge_old_texts(services: Services, now: datetime) -> str:
    """Once a day, blank texts older than [data] retention (bot/domain/retention.py; audited)."""
    day_key = f"purge:{now.date().isoformat()}"
    if zone_done(services, day_key):
        return "done today"
    with services.db.session() as session:
        counts = purge(session, services, now, actor="scheduler")
    mark_zone_done(services, day_key, now)
    return describe(counts)


# Fixed job ids, in the order a tick runs them (the outbox last, so it sends what they queued).
JOBS: dict[str, Job] = {
    "inbound_recovery": recover_inbound,
    "program_arc": due_arc_events,
    "checkins": due_checkins,
    "timeouts": due_timeouts,
    "expiries": due_expiries,
    "concerns": concern_timeouts,
    "staff_escalations": escalate_to_staff,
    "nudge_drafts": draft_scheduled_nudges,
    "coach_digests": coach_digests,
    "retention": purge_old_texts,
    "contact_due": contact_due_reminders,
    "outbox": send_outbox,
}


def run_job(services: Services, job_id: str, now: datetime) -> str:
    """Run one job by id; return its summary (an error is logged and summarised)."""
    try:
        return JOBS[job_id](services, now)
    except Exception as exc:  # noqa: BLE001 - a failing job must not stop the scheduler
        log.exception("job %s failed", job_id)
        return f"failed: {type(exc).__name__}"


def run_all(services: Services, now: datetime) -> list[tuple[str, str]]:
    """Run every job once as of `now` (what `peerline tick` does); return (id, summary) pairs."""
    return [(job_id, run_job(services, job_id, now)) for job_id in JOBS]
