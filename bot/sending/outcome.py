"""Record what the SMS provider answered for one claimed row: sent, retried, refused or failed.

Rules (bot/sending/sender.py's invariants 2 and 5 point here):

1. The outcome is written after the API answers, in its own transaction. A
   sender killed before that write (or a write that fails) leaves the row
   claimed, and the lease puts it back (bot/sending/claims.py rule 2).
2. Accepted: the message gets its sid and sent_at, its segments when the
   provider counts them, and the provider's status only when that moves it
   forwards (or from queued; bot/outbox/delivery.py); the row is sent, its
   nudge sent, and the participant's last_outbound_at moves. The status
   callback URL names our message (`?m=ID`), so a status that beats our own
   write of the sid still finds it (bot/web/status.py); none without
   `twilio.public_url`.
3. A retryable failure (429, 5xx, network, or any unexpected exception) is the
   provider's or the row's own, as the circuit judges it (bot/sending/circuit.py
   rule 2). The provider's: the row goes back to pending with due_at and tries
   unchanged (the claim's +1 undone) and last_error kept. The row's own: the
   try counts, the row backs off exponentially with jitter (due_at moves:
   BACKOFF_BASE x 2^(tries - 1), at most BACKOFF_CAP, times 0.5 to 1.5) and
   fails after `twilio.max_attempts` tries.
4. A final error fails the row and its message, error text and code kept;
   21610 (recipient opted out at the carrier) also opts the participant out.
5. Logs name the row id and the try, with the error text the transport gave
   (bot/sms/twilio.py redacts it), at most 500 characters; never the body or
   the recipient's number.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from bot.domain.nudges import NudgeStatus
from bot.inbound.consent import opt_out
from bot.models import Message, Nudge, Outbox, Participant
from bot.outbox.delivery import MessageStatus, OutboxState, advances
from bot.sending.circuit import Circuit
from bot.sending.claims import Claim, PassReport, finish
from bot.services import Services
from bot.sms import SendError

log = logging.getLogger(__name__)
BACKOFF_BASE = 2.0  # seconds before the second try
BACKOFF_CAP = 600.0


def refusal_code(error: SendError) -> str:
    """Return e.g. "500/20500", "429" or "network": how the provider refused, no text."""
    status = str(error.http_status) if error.http_status else "network"
    return f"{status}/{error.code}" if error.code else status


def backoff(attempts: int, rng: random.Random) -> float:
    """Return seconds to wait after the `attempts`-th failed try (exponential, jittered)."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1)) * (0.5 + rng.random())


class RecordOutcome:
    """Write the provider's answer for a claimed row (OutboxSender mixes it in)."""

    services: Services
    circuit: Circuit
    rng: random.Random
    max_attempts: int

    def _callback(self, claim: Claim) -> str | None:
        """Return the status callback URL naming our message (rule 2); None without public_url."""
        public = str(self.services.config.twilio.public_url or "").rstrip("/")
        return f"{public}/sms/status?m={claim.message_id}" if public else None

    def _record_success(self, claim: Claim, result: Any, report: PassReport) -> None:
        """Mark the row and its message sent (rule 2)."""
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
        """Put the row back, back it off or fail it, as the error and the circuit say (3, 4)."""
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
                finish(session, self.circuit, claim.outbox_id, message, now, OutboxState.FAILED,
                       MessageStatus.FAILED, text, error.code)
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
                finish(session, self.circuit, claim.outbox_id, message, now, OutboxState.FAILED,
                       MessageStatus.FAILED, text, error.code)
                report.add("failed")
        log.warning("outbox row %s try %d failed: %s", claim.outbox_id, claim.attempts, text)
