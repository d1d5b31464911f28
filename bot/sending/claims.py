"""Claim due outbox rows for one sender, re-check them, and give them back or end them.

Rules (bot/sending/sender.py's invariants 1, 2, 3, 5 and 7 point here):

1. A row is sent only by the sender that claimed it. Claiming is one
   transaction that moves due `pending` rows to `claimed` (claimed_by,
   claimed_at, attempts + 1) under `FOR UPDATE SKIP LOCKED` on PostgreSQL
   (`BEGIN IMMEDIATE` serialises it on SQLite), so two senders never hold
   the same row. Rows are taken by priority (0 = crisis), then due time, then
   id. Held rows (crisis pause) are never claimed: only `pending` ones are.
2. A claim lasts `scheduler.lease_seconds` from its claimed_at. Every claim
   pass first puts back to pending the rows whose lease ran out, whoever held
   them, so a sender killed between its API call and the write of the outcome
   leaves nothing lost: the row is sent again, and only the sends in flight at
   the crash can go twice. A live sender keeps its claims: the re-check just
   before the API call renews the row's lease, and `renew_claims` renews all
   of this sender's (the heartbeat in bot/sending/sender.py calls it).
3. Re-checked when claimed, in this order: an opted-out (or withdrawn)
   participant's row is cancelled; a row past `not_after` is expired (its
   approved nudge too); a program text to a participant staff paused waits an
   hour and is checked again (a coach's own composed text and a reply still
   go); a row for a participant in their quiet hours (when it respects them)
   waits for their end, and so does a non-urgent row to a coach in the coach's
   quiet hours (bot/domain/coach_hours.py, coach time zone). Re-checked again
   just before the API call (`_still_ours`): a row no longer claimed by this
   sender is skipped, and a row whose participant is now opted out or withdrawn
   is cancelled.
4. A probe (bot/sending/circuit.py) claims exactly one row: the first sendable
   one in due order unless that is the row whose refusal last opened the
   circuit and others are due; then the first of those to another phone (its
   first text), else the next one.
5. After a crash, a new sender does not wait out the lease for rows it can
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
6. A claimed row ends in one state: sent, failed, cancelled or expired
   (`finish`: finished_at set, claimed_by cleared, the circuit forgets the
   row), or pending again: retried or refused (bot/sending/outcome.py), or
   given back unsent (`_unclaim`: its try undone, only while this sender
   still holds it; `given_back` counts them, so a pass whose last claim
   read the table before a sending thread gave its row back claims again).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from bot.core.durations import QuietHours, in_quiet_hours, quiet_hours_end
from bot.domain.nudges import NudgeStatus
from bot.domain.program_arc import NOT_TEXTED, Status
from bot.models import Coach, Message, Nudge, Outbox, Participant
from bot.outbox.delivery import MessageStatus, OutboxState
from bot.sending.circuit import Circuit
from bot.services import Services

log = logging.getLogger(__name__)
PAUSED_RECHECK = timedelta(hours=1)
SENT_WHILE_PAUSED = frozenset({"compose", "reply"})  # a coach's own words; replies


@dataclass
class PassReport:
    """What one drain did, by outcome."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0
    deferred: int = 0
    reclaimed: int = 0
    refused: int = 0  # retryable failures judged the provider's: no try charged
    paused: bool = False  # the pass ended with the circuit open (not an outcome)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + count)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if not f.name.startswith("_") and f.name != "paused"}

    def __str__(self) -> str:
        parts = [f"{count} {name}" for name, count in self.as_dict().items() if count]
        if self.paused:
            parts.append("sending paused: the SMS provider is refusing")
        return ", ".join(parts) or "nothing due"


@dataclass(frozen=True)
class Claim:
    """One claimed row, detached from its session."""

    outbox_id: int
    message_id: int
    to: str
    body: str
    participant_id: int | None
    attempts: int


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


def holder_name(number: int) -> str:
    """Return the name `NODE:PID:number` a sender of this process claims rows under (rule 5)."""
    return f"{NODE}:{os.getpid()}:{number}"


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


def finish(session: Session, circuit: Circuit, outbox_id: int, message: Message, now: datetime,
           state: str, status: str, error: str | None, code: int | None = None) -> None:
    """End a claim in a final `state`, its message in `status` (rule 6)."""
    circuit.forget(outbox_id)
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(
        state=state, last_error=error, finished_at=now, claimed_by=None))
    message.status = status
    message.updated_at = now
    if code is not None:
        message.error_code = code


class ClaimRows:
    """Claim, re-check, renew and give back one sender's rows (OutboxSender mixes it in)."""

    services: Services
    name: str
    lease: timedelta
    batch_size: int
    quiet: QuietHours
    coach_quiet: QuietHours
    default_tz: str
    circuit: Circuit
    _orphans_checked: bool
    given_back: int

    def reclaim_orphans(self, report: PassReport | None = None) -> int:
        """Put back the claimed rows of dead senders of this node (rule 5); return how many."""
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

        A `probe` claims one row (rule 4): the first sendable one, but when that is
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
        """Cancel, expire or defer `row` if it must not go now (rule 3); return whether it did."""
        if row.to_participant and participant is not None and participant.opted_out:
            finish(session, self.circuit, row.id, message, now, OutboxState.CANCELLED,
                   MessageStatus.CANCELED, "opted out")
            report.add("cancelled")
            return True
        if row.not_after is not None and now > row.not_after:
            finish(session, self.circuit, row.id, message, now, OutboxState.EXPIRED,
                   MessageStatus.EXPIRED, "too late to send")
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
                finish(session, self.circuit, row.id, message, now, OutboxState.CANCELLED,
                       MessageStatus.CANCELED, "opted out")
                report.add("cancelled")
                return False
        return True

    def _unclaim(self, claims: list[Claim]) -> None:
        """Give back rows claimed but not sent, their tries undone (rule 6)."""
        with self.services.db.session() as session:
            session.execute(update(Outbox).where(
                Outbox.id.in_([c.outbox_id for c in claims]), Outbox.claimed_by == self.name)
                .values(state=OutboxState.PENDING, claimed_by=None, claimed_at=None,
                        attempts=Outbox.attempts - 1))
        self.given_back += len(claims)  # after the commit: a claim from now on sees them

    def renew_claims(self) -> int:
        """Renew the lease of every row this sender holds; return how many."""
        with self.services.db.session() as session:
            result = session.execute(
                update(Outbox).where(Outbox.state == OutboxState.CLAIMED,
                                     Outbox.claimed_by == self.name)
                .values(claimed_at=self.services.clock.now())
                .execution_options(synchronize_session=False))
            return int(getattr(result, "rowcount", 0) or 0)
