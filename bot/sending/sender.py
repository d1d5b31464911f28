"""Drain the outbox: claim due rows, re-check them, send them within the rate, record what happened.

Invariants (what the rest of PeerLine may rely on). Each is stated in full once, in the
module that enforces it: here for the dispatch loop, its threads and its passes; the
others are pointed to.

1. Two senders never hold the same row, and crisis rows go first:
   bot/sending/claims.py rule 1.
2. Nothing is lost, and only the sends in flight at a crash (at most
   `twilio.max_in_flight`) can go twice: the lease (claims.py rule 2) and the
   outcome written after the API answers (bot/sending/outcome.py rule 1).
   A live sender's sends are not repeated: besides the renewal in the send-time
   re-check, a background sender renews all its claims every lease / 3 (a
   heartbeat thread), so a slow call, a slow write after it or a slow batch is
   never taken for a dead sender's. (Without the heartbeat, a call outlasting
   the lease on a loaded machine was sent twice: the kill -9 fault test once
   saw 5 repeats with 4 in flight.) A batch is at most `rate x lease / 2` rows,
   so at the rate it is dispatched within half a lease and its waiting rows are
   not reclaimed (if they were, the re-check would skip them: the reclaiming
   sender sends them, once).
3. Opted-out, late, paused and quiet-hours rows are not sent; held rows are
   never claimed: claims.py rules 1 and 3.
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
5. A provider outage charges no row a try and keeps due order (but the probe
   the provider accepts first may be the second-due text); a text the
   provider always refuses neither holds the others back nor is tried forever
   while others are accepted. Whose failure a refusal is, the pause and the
   probe: bot/sending/circuit.py; what a refusal or a final error does to the
   row: outcome.py rules 3 and 4; which row is the probe: claims.py rule 4.
   Here: once the circuit opens nothing more is dispatched (the batch's rest
   is unclaimed, tries undone, and so are rows re-checked but without their
   token; calls already made finish and are judged alike), and while it is
   open only its probe goes. A pass that starts during a pause sends nothing;
   a pass that opens the circuit waits out its first pause once and probes
   (so a one-pass sender, `peerline tick`, gets past a text that always
   fails); the background loop wakes when the probe is due. The circuit lives
   in memory, one per sender: several sender processes pause and probe each
   on their own.
6. The sender (all of bot/sending) never reads the wall clock for domain times
   (services.clock) and never sleeps except through its injected `sleep`, so
   tests run it in virtual time.
7. After a crash, a new sender puts back the rows of this node's dead senders
   without waiting out the lease: claims.py rule 5.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from bot.domain.coach_hours import coach_quiet
from bot.sending.circuit import Circuit
from bot.sending.claims import Claim, ClaimRows, PassReport, holder_name
from bot.sending.outcome import RecordOutcome
from bot.sending.ratelimit import TokenBucket
from bot.services import Services
from bot.sms import SendError

log = logging.getLogger(__name__)
AHEAD_SECONDS = 0.5  # a send is re-checked at most about this long before its token (inv. 4)


class OutboxSender(ClaimRows, RecordOutcome):
    """Claim and send due outbox rows; `drain()` once, or `start()` a background loop."""

    def __init__(self, services: Services, *, name: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, rate: float | None = None,
                 max_in_flight: int | None = None, max_attempts: int | None = None,
                 poll_seconds: float = 1.0, batch_size: int | None = None):
        config = services.config
        self.services = services
        self.name = name or holder_name(id(self) % 10000)
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
        self.given_back = 0  # rows given back unsent so far (_unclaim); drain claims them again
        self._heartbeat: threading.Thread | None = None

    # -- sending ----------------------------------------------------------------------------

    def _send_one(self, claim: Claim, report: PassReport) -> None:
        """Re-check one claimed row, take its token, call the API and record the answer."""
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
                given_back = self.given_back
                claims = self.claim(report, probe=probe, avoid=circuit.opener)
                if not claims:
                    self._wait_in_flight()  # the last answers may open the circuit
                    if circuit.closed and self.given_back != given_back:
                        continue  # a sending thread gave a row back after that claim read
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
        """Wait until no send is in flight."""
        for _ in range(self.max_in_flight):
            self._slots.acquire()
        for _ in range(self.max_in_flight):
            self._slots.release()

    # -- the background loop ----------------------------------------------------------------

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

    def _renew_loop(self) -> None:
        """Renew this sender's claims every lease / 3 until stopped (invariant 2)."""
        interval = max(0.2, self.lease.total_seconds() / 3)
        while not self._stop.wait(interval):
            try:
                self.renew_claims()
            except Exception:  # noqa: BLE001 - e.g. the database restarting; next beat
                log.warning("could not renew this sender's claims", exc_info=True)

    def _loop(self) -> None:
        """Run a pass when woken or every `poll_seconds`, sooner when a probe is due."""
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
