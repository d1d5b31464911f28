"""Drain the outbox: claim due rows, re-check them, send them within the rate, record what happened.

Invariants (what the rest of PeerLine may rely on):

1. A row is sent only by the sender that claimed it. Claiming is one
   transaction that moves due `pending` rows to `claimed` (claimed_by,
   claimed_at, attempts + 1) under `FOR UPDATE SKIP LOCKED` on PostgreSQL
   (`BEGIN IMMEDIATE` serialises it on SQLite), so two senders never hold
   the same row. Rows are taken by priority (0 = crisis), then due time.
2. A claimed row ends in one state: sent, failed, cancelled, expired, or
   pending again (quiet hours, retry). The outcome is written after the API
   answers. A sender killed between the API call and that write leaves the
   row claimed; once `scheduler.lease_seconds` have passed any sender puts it
   back to pending and it is sent again. So only the sends in flight at a
   crash (at most `twilio.max_in_flight`) can go twice; nothing is lost.
   A live sender's sends are not repeated: the re-check just before the API
   call renews the row's lease (claimed_at), and a background sender also
   renews all its claims every lease / 3 (a heartbeat thread), so a slow call,
   a slow write after it or a slow batch is never taken for a dead sender's.
   (Without the heartbeat, a call outlasting the lease on a loaded machine was
   sent twice: the kill -9 fault test once saw 5 repeats with 4 in flight.) A batch
   is at most `rate × lease / 2` rows, so at the rate it is dispatched within
   half a lease and its waiting rows are not reclaimed (if they were, the
   re-check would skip them: the reclaiming sender sends them, once).
3. Re-checked when claimed and again just before the API call: an opted-out
   participant's row is cancelled; a row past `not_after` is expired (its
   nudge too); a row for a participant in quiet hours (when it respects
   them) waits for their end, and so does a non-urgent row to a coach in the
   coach's quiet hours (bot/coach_hours.py, coach time zone); program texts
   to a participant staff paused wait (re-checked hourly; a coach's own
   composed text still goes). Held
   rows (crisis pause) are never claimed.
4. At most `twilio.max_messages_per_second` API calls start per second and
   at most `twilio.max_in_flight` sends are in flight at once (a small thread
   pool fed by the one dispatching thread). Each sending thread takes its
   token from the shared bucket after its row's re-check and just before the
   API call, so a database wait in the re-check delays that call but never
   bunches calls above the rate (with the token first, the calls granted
   during a wait all went when it ended). A row that does not go takes no
   token: the re-check settled it, or the circuit opened or the sender
   stopped (it is unclaimed, its try undone; the bucket asks that under its
   lock, just before taking). So that the re-check stays just before the
   call, at most rate x AHEAD_SECONDS rows (at least one) are between their
   re-check and their token, and one starts its re-check only when a token is
   due within AHEAD_SECONDS: a re-check is at most about 0.5 s (plus its own
   database wait) older than its call.
5. A retryable failure (429, 5xx, network) is the provider's when no
   message was accepted, in this process, since the row's previous retryable
   failure (or it had none); else it is the row's own (bot/sending/circuit.py).
   The provider's: the row goes back to pending with due_at and tries
   unchanged (the claim's +1 undone), last_error kept, and the circuit opens:
   nothing more is dispatched (the batch's rest is unclaimed, tries undone,
   and so are rows re-checked but without their token; calls already made
   finish and are judged alike). After a pause (1 s, doubled
   after each refused probe, at most 16 s, +/-10 % jitter) exactly one row is
   sent as a probe: the first due (priority, due_at, id) unless that is the
   row whose refusal last opened the circuit and others are due; then the
   first of those to another phone (else the next). Any accepted send closes
   the circuit and batches resume in due order within the rate; a refused
   probe reopens it. The row's own: the try counts, the row backs off
   exponentially with jitter (due_at moves) and fails after
   `twilio.max_attempts` tries; the circuit is left as it is. So an outage
   charges no row a try and keeps due order (but the probe the provider
   accepts first may be the second-due text); a text the provider always
   refuses neither holds the others back nor is tried forever while others
   are accepted. A final error fails the row and its message, error kept;
   21610 (recipient opted out at the carrier) also opts the participant out.
   A pass that starts during a pause sends nothing; a pass that opens the
   circuit waits out its first pause once and probes (so a one-pass sender,
   `peerline tick`, gets past a text that always fails); the background loop
   wakes when the probe is due. The circuit lives in memory, one per sender:
   several sender processes pause and probe each on their own.
6. The sender never reads the wall clock for domain times (services.clock)
   and never sleeps except through its injected `sleep`, so tests run it in
   virtual time.
7. After a crash, a new sender does not wait out the lease for rows it can
   prove dead: on its first pass it puts back to pending the claimed rows
   whose holder ran on this node (same hostname, boot and PID namespace:
   NODE, the first part of every sender's name `NODE:PID:N`) in a process
   that no longer exists (`kill(pid, 0)` says no such process). A holder on
   another node, a live PID (even one reused by an unrelated process) or this
   very process is never reclaimed this way: the lease still applies, so two
   live senders can never both hold a row. The reset names the dead holder
   (`claimed_by = holder`), so a row another sender claimed meanwhile is left
   alone. Crisis rows go first anyway (priority); all of a dead holder's rows
   are reclaimed, since the lease would send the same rows again later.
   Only the sends in flight at the crash can go twice, as with the lease.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from bot.core.durations import in_quiet_hours, quiet_hours_end
from bot.domain.coach_hours import coach_quiet
from bot.domain.nudges import NudgeStatus
from bot.domain.program_arc import NOT_TEXTED, Status
from bot.inbound.consent import opt_out
from bot.models import Coach, Message, Nudge, Outbox, Participant
from bot.outbox.delivery import MessageStatus, OutboxState, advances
from bot.sending.circuit import Circuit
from bot.sending.claims import Claim, PassReport, backoff, refusal_code
from bot.sending.ratelimit import TokenBucket
from bot.services import Services
from bot.sms import SendError

log = logging.getLogger(__name__)
PAUSED_RECHECK = timedelta(hours=1)
AHEAD_SECONDS = 0.5  # a send is re-checked at most about this long before its token (inv. 4)
SENT_WHILE_PAUSED = frozenset({"compose", "reply"})  # a coach's own words; replies


def _node() -> str:
    """Return this node's id: the hostname and a hash of the boot and the PID namespace."""
    parts = []
    for read in (lambda: Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
                 lambda: os.readlink("/proc/self/ns/pid")):
        with contextlib.suppress(OSError):
            parts.append(read())
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:8]
    return f"{socket.gethostname()[:40]}/{digest}"


NODE = _node()


def holder_is_dead(holder: str | None) -> bool:
    """Tell whether `holder` names a sender process of this node that no longer exists."""
    node, _, rest = (holder or "").partition(":")
    pid_text = rest.split(":", 1)[0]
    if node != NODE or not pid_text.isdigit():
        return False  # another node, or a name we did not make: only the lease may tell
    pid = int(pid_text)
    if pid == os.getpid() or pid <= 1:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: a live process of another user
        return False
    return False


class OutboxSender:
    """Claim and send due outbox rows; `drain()` once, or `start()` a background loop."""

    def __init__(self, services: Services, *, name: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, rate: float | None = None,
                 max_in_flight: int | None = None, max_attempts: int | None = None,
                 poll_seconds: float = 1.0, batch_size: int | None = None):
        config = services.config
        self.services = services
        self.name = name or f"{NODE}:{os.getpid()}:{id(self) % 10000}"
        self.rate = float(rate or config.twilio.max_messages_per_second)
        self.max_in_flight = max(1, int(max_in_flight or config.twilio.max_in_flight))
        self.max_attempts = max(1, int(max_attempts or config.twilio.max_attempts))
        self.lease = timedelta(seconds=int(config.scheduler.lease_seconds))
        self.quiet = config.program.quiet_hours
        self.coach_quiet = coach_quiet(config)
        self.default_tz = str(config.program.timezone)
        self.bucket = TokenBucket(self.rate, monotonic=monotonic, sleep=sleep)
        self.rng = rng or random.Random()
        self.circuit = Circuit(monotonic=monotonic, rng=self.rng)
        self._sleep = sleep
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size or min(500, max(self.max_in_flight * 2, int(self.rate * 2)))
        # Dispatch a batch within half a lease, so its waiting rows are not reclaimed.
        self.batch_size = max(1, min(self.batch_size,
                                     int(self.rate * self.lease.total_seconds() / 2)))
        self._pool = ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="peerline-send")
        self._slots = threading.BoundedSemaphore(self.max_in_flight)
        self._ahead = threading.BoundedSemaphore(max(1, math.ceil(self.rate * AHEAD_SECONDS)))
        self._drain_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._orphans_checked = False
        self._heartbeat: threading.Thread | None = None

    # -- claiming ---------------------------------------------------------------------------

    def reclaim_orphans(self, report: PassReport | None = None) -> int:
        """Put back the claimed rows of dead senders of this node (invariant 7); return how many."""
        self._orphans_checked = True
        with self.services.db.session() as session:
            holders = {holder for (holder,) in session.execute(
                select(Outbox.claimed_by).where(Outbox.state == OutboxState.CLAIMED,
                                                Outbox.claimed_by.startswith(f"{NODE}:"))
                .distinct())}
            dead = sorted(holder for holder in holders if holder and holder_is_dead(holder))
            if not dead:
                return 0
            result = cast(CursorResult[Any], session.execute(
                update(Outbox).where(Outbox.state == OutboxState.CLAIMED,
                                     Outbox.claimed_by.in_(dead))
                .values(state=OutboxState.PENDING, claimed_by=None, claimed_at=None)
                .execution_options(synchronize_session=False)))
            count = int(result.rowcount or 0)
        if count:
            log.warning("reclaimed %d outbox rows held by %d dead sender processes of this node",
                        count, len(dead))
            if report is not None:
                report.add("reclaimed", count)
        return count

    def claim(self, report: PassReport, *, probe: bool = False,
              avoid: int | None = None) -> list[Claim]:
        """Claim up to one batch of due rows; settle the ones that must not be sent.

        A `probe` claims one row (invariant 5): the first sendable one, but when that is
        `avoid` and others are due, the first other to another phone, else the next.
        """
        if not self._orphans_checked:
            self.reclaim_orphans(report)
        now = self.services.clock.now()
        with self.services.db.session() as session:
            stale = cast(CursorResult[Any], session.execute(
                update(Outbox).where(Outbox.state == OutboxState.CLAIMED,
                                     Outbox.claimed_at <= now - self.lease)
                .values(state=OutboxState.PENDING, claimed_by=None, claimed_at=None)
                .execution_options(synchronize_session=False)))
            if stale.rowcount:
                log.warning("reclaimed %d outbox rows whose sender went silent", stale.rowcount)
                report.add("reclaimed", stale.rowcount)
            rows = list(session.scalars(
                select(Outbox).where(Outbox.state == OutboxState.PENDING, Outbox.due_at <= now)
                .order_by(Outbox.priority, Outbox.due_at, Outbox.id)
                .limit(self.batch_size).with_for_update(skip_locked=True)))
            if not rows:
                return []
            messages = {m.id: m for m in session.scalars(
                select(Message).where(Message.id.in_([r.message_id for r in rows])))}
            pids = {m.participant_id for m in messages.values() if m.participant_id}
            people = {p.id: p for p in session.scalars(
                select(Participant).where(Participant.id.in_(pids)))} if pids else {}
            cids = {m.coach_id for m in messages.values() if m.coach_id}
            zones = dict(session.execute(select(Coach.id, Coach.timezone)
                                         .where(Coach.id.in_(cids))).all()) if cids else {}
            sendable = []
            for row in rows:
                message = messages[row.message_id]
                participant = people.get(message.participant_id or 0)
                zone = zones.get(message.coach_id or 0)
                if not self._settle_unsendable(session, row, message, participant, now, report,
                                               coach_zone=zone):
                    sendable.append((row, message))
            if probe and sendable:  # one row: the head, or if that is `avoid`, the next
                head = sendable[0]  # other row due, preferring another phone (its first text)
                if head[0].id == avoid and len(sendable) > 1:
                    head = next((pair for pair in sendable[1:]
                                 if pair[0].to_phone != head[0].to_phone), sendable[1])
                sendable = [head]
            claims = []
            for row, message in sendable:
                row.state, row.claimed_by, row.claimed_at = OutboxState.CLAIMED, self.name, now
                row.attempts += 1
                claims.append(Claim(row.id, message.id, row.to_phone, message.body,
                                    message.participant_id, row.attempts))
            return claims

    def _settle_unsendable(self, session: Session, row: Outbox, message: Message,
                           participant: Participant | None, now: datetime,
                           report: PassReport, coach_zone: str | None = None) -> bool:
        """Cancel, expire or defer `row` if it must not go now; return whether it did."""
        if row.to_participant and participant is not None and participant.opted_out:
            self._finish(session, row.id, message, now, OutboxState.CANCELLED,
                         MessageStatus.CANCELED, "opted out")
            report.add("cancelled")
            return True
        if row.not_after is not None and now > row.not_after:
            self._finish(session, row.id, message, now, OutboxState.EXPIRED, MessageStatus.EXPIRED,
                         "too late to send")
            session.execute(update(Nudge).where(Nudge.message_id == message.id,
                                                Nudge.status == NudgeStatus.APPROVED)
                            .values(status=NudgeStatus.EXPIRED))
            report.add("expired")
            return True
        if row.to_participant and participant is not None and participant.status == Status.PAUSED \
                and row.kind not in SENT_WHILE_PAUSED:
            row.due_at = now + PAUSED_RECHECK
            report.add("deferred")
            return True
        if row.respect_quiet_hours and row.to_participant:
            zone = participant.timezone if participant is not None else self.default_tz
            if in_quiet_hours(self.quiet, now, zone):
                row.due_at = quiet_hours_end(self.quiet, now, zone)
                report.add("deferred")
                return True
        if row.respect_quiet_hours and not row.to_participant and coach_zone is not None \
                and in_quiet_hours(self.coach_quiet, now, coach_zone):
            row.due_at = quiet_hours_end(self.coach_quiet, now, coach_zone)
            report.add("deferred")
            return True
        return False

    def _finish(self, session: Session, outbox_id: int, message: Message, now: datetime,
                state: str, status: str, error: str | None, code: int | None = None) -> None:
        self.circuit.forget(outbox_id)
        session.execute(update(Outbox).where(Outbox.id == outbox_id).values(
            state=state, last_error=error, finished_at=now, claimed_by=None))
        message.status = status
        message.updated_at = now
        if code is not None:
            message.error_code = code

    # -- sending ----------------------------------------------------------------------------

    def _still_ours(self, claim: Claim, now: datetime, report: PassReport) -> bool:
        """Re-check just before the API call: still claimed by us, recipient not opted out."""
        with self.services.db.session() as session:
            row = session.get(Outbox, claim.outbox_id, with_for_update=True)
            if row is None or row.state != OutboxState.CLAIMED or row.claimed_by != self.name:
                return False
            row.claimed_at = now  # renew the lease for the call: a live send is not reclaimed
            if claim.participant_id and row.to_participant and session.scalar(
                    select(Participant.status).where(Participant.id == claim.participant_id)
            ) in NOT_TEXTED:
                message = session.get(Message, claim.message_id)
                assert message is not None
                self._finish(session, row.id, message, now, OutboxState.CANCELLED,
                         MessageStatus.CANCELED, "opted out")
                report.add("cancelled")
                return False
        return True

    def _send_one(self, claim: Claim, report: PassReport) -> None:
        try:
            if not self._recheck_and_take_token(claim, report):
                return
            try:
                result = self.services.sender.send(claim.to, claim.body,
                                                   status_callback=self._callback(claim))
            except SendError as exc:
                self._record_failure(claim, exc, report)
                return
            except Exception as exc:  # noqa: BLE001 - an unknown failure is retried, not lost
                self._record_failure(claim, SendError(f"{type(exc).__name__}: {exc}"), report)
                return
            self.circuit.accepted(claim.outbox_id)
            self._record_success(claim, result, report)
        except Exception:  # noqa: BLE001 - the row stays claimed and is reclaimed after the lease
            log.exception("outbox row %s: could not record the outcome", claim.outbox_id)

    def _recheck_and_take_token(self, claim: Claim, report: PassReport) -> bool:
        """Re-check the row, then take its rate token; return whether to call the API now.

        Invariant 4: the token comes after the re-check's database work, so a wait there
        delays this call but never bunches calls. A row that may not go takes no token:
        unclaimed (try undone) if the circuit opened or the sender stopped, left to the
        re-check's verdict if it is no longer ours or its recipient opted out.
        """
        def may_go() -> bool:
            return not self._stop.is_set() and self.circuit.allows(claim.outbox_id)

        with self._ahead:  # at most ~AHEAD_SECONDS of sends between re-check and token
            self.bucket.wait_ready(AHEAD_SECONDS)
            if not may_go():
                self._unclaim([claim])
                return False
            if not self._still_ours(claim, self.services.clock.now(), report):
                return False
            if self.bucket.acquire(may_go) is None:
                self._unclaim([claim])
                return False
        return True

    def _callback(self, claim: Claim) -> str | None:
        """Return the status callback URL naming our message, so a status that beats our
        own write of the sid still finds it (bot/web/status.py); None without public_url."""
        public = str(self.services.config.twilio.public_url or "").rstrip("/")
        return f"{public}/sms/status?m={claim.message_id}" if public else None

    def _record_success(self, claim: Claim, result: Any, report: PassReport) -> None:
        now = self.services.clock.now()
        with self.services.db.session() as session:
            message = session.get(Message, claim.message_id)
            assert message is not None
            message.sid = result.sid
            if advances(message.status, result.status) or message.status == MessageStatus.QUEUED:
                message.status = result.status
            if result.segments:
                message.segments = result.segments
            message.sent_at = message.updated_at = now
            session.execute(update(Outbox).where(Outbox.id == claim.outbox_id).values(
                state=OutboxState.SENT, finished_at=now, last_error=None))
            session.execute(update(Nudge).where(Nudge.message_id == claim.message_id)
                            .values(status=NudgeStatus.SENT))
            if claim.participant_id:
                session.execute(update(Participant).where(Participant.id == claim.participant_id)
                                .values(last_outbound_at=now))
        report.add("sent")

    def _record_failure(self, claim: Claim, error: SendError, report: PassReport) -> None:
        now = self.services.clock.now()
        text = str(error)[:500]
        if error.retryable and not self.circuit.refused(claim.outbox_id, refusal_code(error)):
            with self.services.db.session() as session:  # the provider's failure: no try spent
                session.execute(update(Outbox).where(Outbox.id == claim.outbox_id).values(
                    state=OutboxState.PENDING, claimed_by=None, claimed_at=None, last_error=text,
                    attempts=Outbox.attempts - 1))
            report.add("refused")
            log.info("outbox row %s refused while the provider fails (try not counted): %s",
                     claim.outbox_id, text)
            return
        with self.services.db.session() as session:
            message = session.get(Message, claim.message_id)
            assert message is not None
            if error.opted_out:
                self._finish(session, claim.outbox_id, message, now, OutboxState.FAILED,
                             MessageStatus.FAILED, text,
                             error.code)
                if claim.participant_id:
                    opt_out(session, claim.participant_id, method="twilio:21610", now=now,
                            message_id=claim.message_id)
                report.add("failed")
            elif error.retryable and claim.attempts < self.max_attempts:
                session.execute(update(Outbox).where(Outbox.id == claim.outbox_id).values(
                    state=OutboxState.PENDING, claimed_by=None, claimed_at=None, last_error=text,
                    due_at=now + timedelta(seconds=backoff(claim.attempts, self.rng))))
                report.add("retried")
            else:
                self._finish(session, claim.outbox_id, message, now, OutboxState.FAILED,
                             MessageStatus.FAILED, text,
                             error.code)
                report.add("failed")
        log.warning("outbox row %s try %d failed: %s", claim.outbox_id, claim.attempts, text)

    # -- passes -----------------------------------------------------------------------------

    def drain(self) -> PassReport:
        """Send everything due now, batch by batch, within the rate; return what happened.

        While the circuit is open only its probe goes (invariant 5); a pass that starts
        during a pause sends nothing, and one that opens the circuit waits out the first
        pause once.
        """
        report = PassReport()
        circuit = self.circuit
        with self._drain_lock:
            may_wait = circuit.closed
            while not self._stop.is_set():
                if not circuit.closed:
                    self._wait_in_flight()  # their answers may close the circuit
                    circuit.end_probe()  # a probe with no verdict: the next one may go now
                left = circuit.pause_left()
                if left > 0:
                    if not may_wait:
                        break
                    may_wait = False
                    self._sleep(left)
                probe = not circuit.closed
                claims = self.claim(report, probe=probe, avoid=circuit.opener)
                if not claims:
                    self._wait_in_flight()  # the last answers may open the circuit
                    if circuit.closed or not may_wait or circuit.pause_left() <= 0:
                        break
                    continue
                if probe:
                    circuit.begin_probe(claims[0].outbox_id)
                self._dispatch(claims, report)
            self._wait_in_flight()
            circuit.end_probe()
        report.paused = not circuit.closed
        return report

    def _dispatch(self, claims: list[Claim], report: PassReport) -> None:
        """Hand the claims to sending threads (they take the tokens); unclaim the rest if
        stopped or paused."""
        def may_go(claim: Claim) -> bool:
            return not self._stop.is_set() and self.circuit.allows(claim.outbox_id)

        for index, claim in enumerate(claims):
            if may_go(claim):
                self._slots.acquire()
                if may_go(claim):  # asked again: a refusal may have come while we waited
                    future = self._pool.submit(self._send_one, claim, report)
                    future.add_done_callback(lambda _f: self._slots.release())
                    continue
                self._slots.release()
            self._unclaim(claims[index:])
            return

    def _wait_in_flight(self) -> None:
        for _ in range(self.max_in_flight):
            self._slots.acquire()
        for _ in range(self.max_in_flight):
            self._slots.release()

    def _unclaim(self, claims: list[Claim]) -> None:
        with self.services.db.session() as session:
            session.execute(update(Outbox).where(
                Outbox.id.in_([c.outbox_id for c in claims]), Outbox.claimed_by == self.name)
                .values(state=OutboxState.PENDING, claimed_by=None, claimed_at=None,
                        attempts=Outbox.attempts - 1))

    def wake(self) -> None:
        """Ask the background loop for a pass now (registered on services.db.wakers)."""
        self._wake.set()

    def start(self) -> None:
        """Run passes in a background thread: when woken, else every `poll_seconds`."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="peerline-sender", daemon=True)
        self._thread.start()
        self._heartbeat = threading.Thread(target=self._renew_loop, name="peerline-lease",
                                           daemon=True)
        self._heartbeat.start()

    def renew_claims(self) -> int:
        """Renew the lease of every row this sender holds; return how many."""
        with self.services.db.session() as session:
            result = session.execute(
                update(Outbox).where(Outbox.state == OutboxState.CLAIMED,
                                     Outbox.claimed_by == self.name)
                .values(claimed_at=self.services.clock.now())
                .execution_options(synchronize_session=False))
            return int(getattr(result, "rowcount", 0) or 0)

    def _renew_loop(self) -> None:
        interval = max(0.2, self.lease.total_seconds() / 3)
        while not self._stop.wait(interval):
            try:
                self.renew_claims()
            except Exception:  # noqa: BLE001 - e.g. the database restarting; next beat
                log.warning("could not renew this sender's claims", exc_info=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            left = self.circuit.pause_left()  # paused: wake up when the probe is due
            self._wake.wait(min(self.poll_seconds, left) if left > 0 else self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                report = self.drain()
                if report.as_dict() != PassReport().as_dict():
                    log.info("outbox pass: %s", report)
            except Exception:  # noqa: BLE001 - e.g. the database restarting; try again later
                log.exception("outbox pass failed; retrying")
                self._stop.wait(self.poll_seconds)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the loop, finish the sends in flight and give back unsent claims."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._heartbeat is not None:
            self._heartbeat.join(timeout)
            self._heartbeat = None
        self._pool.shutdown(wait=True)
