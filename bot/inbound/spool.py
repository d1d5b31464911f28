"""Keep inbound texts the database could not take; replay them when it is back.

Twilio does not retry a webhook that fails, so a text that arrives while the
database is unreachable would be lost. Rules:

- Used only when storing or processing a text fails because the database
  cannot be reached or does not answer in time (DATABASE_DOWN: SQLAlchemy
  OperationalError or InterfaceError, which include the webhook's lock and
  statement timeouts, or no free pooled connection; a text stored before the
  failure is deduplicated on replay). The text goes to
  `database.spool_dir` as one JSON file named after its MessageSid: written
  to a temporary file, fsynced, then renamed, so a file is whole or absent
  and a repeated sid is one file. Files are 0600 in a 0700 folder: they hold
  bodies and phone numbers, as the database does. The folder is per node.
- The webhook still answers 200 with the verdict the screen made from memory
  before the database was touched (bot/screen.py; kept in the file, so the
  replay acts on the same decision). Crisis language gets the crisis reply in
  the TwiML at once, and every `safety.staff_phones` is texted directly (no
  outbox: that needs the database); the phones that got it are kept in the
  file. That alert carries the sender's number, since the dashboard is down
  too and staff must be able to call. Concern language gets the concern
  reply. Anything else gets an empty answer now and its replies through the
  outbox on replay.
- When the spool write fails too (ENOSPC, EROFS, EIO): the temporary file is
  removed, the failure is logged (error name, sid, masked number; never the
  body) and counted (`spool_write_failures`, /metrics and /healthz). A crisis
  or concern text still gets its reply and staff a direct text saying it is
  not saved anywhere. Any other text gets a 503 (answer_while_down returns
  None): nothing was kept and there is nothing to say, so the loss must show:
  Twilio does not retry, but a 503 is logged in Twilio's debugger (and the
  message log keeps the text) and sends the text to the number's fallback
  URL when one is set, where a 200 would hide it.
- Partial files (`.SID.PID.THREAD.tmp`) that a failed or killed write left
  are deleted when the spool is next looked at, once older than
  PARTIAL_STALE seconds, and counted (`partial_files_removed`).
- Replay (when a new text has been stored and before it is processed, so the
  older texts are answered first; at most every REPLAY_EVERY seconds per
  process; and in the scheduler's inbound_recovery job) takes the folder's
  flock without waiting, stores each file's text with its arrival time
  (deduplicated on the sid), processes it as a late text, and deletes the
  file only after that commit. Oldest first. A crisis reply already given in
  the TwiML is recorded as sent, not sent again; the escalation is opened
  then, and its alerts to the staff phones texted during the outage are
  cancelled (bot.inbound.process_late): they are not texted twice.
  A file that cannot be read or stored is renamed `*.json.failed` (logged
  once) so it holds up nothing; /healthz counts it until a person removes it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.core.files import private_dir
from bot.core.phones import mask
from bot.flows.safety import Tier, Verdict
from bot.inbound.crisis import safe_matcher
from bot.inbound.store import InboundSms, render_twiml, store_inbound
from bot.services import Services

log = logging.getLogger(__name__)
# Unreachable, or too slow: a lock or statement timeout (bot/db.py), no free pool connection.
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout)
COUNTERS = ("spool_write_failures", "partial_files_removed", "direct_alert_failures")
PARTIAL_STALE = 60.0  # seconds after which a temporary spool file is a leftover
_COUNTER_LOCK = threading.Lock()
REPLAY_EVERY = 2.0  # seconds between a process's looks at its spool
REPLAY_IN_REQUEST = 50  # files one webhook request replays (~5 ms each); the job takes more


def spool_path(services: Services) -> Path:
    """Return this node's spool folder."""
    return Path(services.config.database.spool_dir)


def spool_text(folder: Path, sms: InboundSms, received_at: datetime, crisis_answered: bool,
               verdict: Verdict | None = None, staff_alerted: list[str] | None = None) -> Path:
    """Write one text durably to the spool; return its file (OSError if the disk refuses)."""
    private_dir(folder)
    final = folder / f"{sms.sid}.json"
    temporary = folder / f".{sms.sid}.{os.getpid()}.{threading.get_ident()}.tmp"
    record = {"sid": sms.sid, "phone": sms.phone, "body": sms.body,
              "num_media": sms.num_media, "received_at": received_at.isoformat(),
              "crisis_answered": crisis_answered}
    if verdict is not None:
        record.update(tier=str(verdict.tier), rule=verdict.rule, family=verdict.family)
    if staff_alerted:
        record["staff_alerted"] = staff_alerted
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:  # writes it all (os.write may write part)
            handle.write(json.dumps(record).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except OSError:
        with contextlib.suppress(OSError):  # no partial file left behind
            temporary.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return final


def answer_while_down(services: Services, sms: InboundSms, now: datetime,
                      verdict: Verdict) -> str | None:
    """Spool a text the database could not take; return its TwiML (None: answer 503).

    `verdict` is the screen's, made from memory before the database was touched.
    """
    matcher = safe_matcher(services)
    reply = {Tier.CRISIS: [matcher.reply], Tier.CONCERN: [matcher.concern_reply]}.get(
        verdict.tier, [])
    folder = spool_path(services)
    if _exists(folder / f"{sms.sid}.json"):  # a repeated MessageSid: same answer, no new alert
        log.warning("database unreachable: inbound %s repeated; already spooled", sms.sid)
        return render_twiml(reply)
    alerted = list(services.config.safety.staff_phones) if verdict.tier is Tier.CRISIS else []
    try:
        spool_text(folder, sms, now, crisis_answered=verdict.tier is Tier.CRISIS,
                   verdict=verdict, staff_alerted=alerted)
    except OSError as exc:  # ENOSPC, EROFS, EIO: neither the database nor the disk takes it
        count(services, "spool_write_failures")
        log.error("database unreachable and the spool write failed (%s): inbound %s from %s "
                  "is not kept", errno.errorcode.get(exc.errno or 0, type(exc).__name__),
                  sms.sid, mask(sms.phone))
        if verdict.tier is Tier.NONE:
            # Nothing kept and nothing to say: a 503 shows in Twilio's debugger and sends
            # the text to the number's fallback URL, if one is set; a 200 would hide it.
            return None
        _text_staff(services, sms, now, verdict, saved=False)
        return render_twiml(reply)
    log.error("database unreachable: inbound %s from %s spooled for replay",
              sms.sid, mask(sms.phone))
    if verdict.tier is Tier.CRISIS:
        failed = _text_staff(services, sms, now, verdict, saved=True)
        if failed:  # replay must alert those staff through the outbox
            with contextlib.suppress(OSError):
                spool_text(folder, sms, now, crisis_answered=True, verdict=verdict,
                           staff_alerted=[p for p in alerted if p not in failed])
    return render_twiml(reply)


def _text_staff(services: Services, sms: InboundSms, now: datetime, verdict: Verdict,
                saved: bool) -> list[str]:
    """Text every staff phone about a text the database could not take; return the failures."""
    where = ("The database is down, so it is not on the dashboard yet." if saved else
             "The database and the disk are failing: this text is NOT saved anywhere.")
    what = "crisis words" if verdict.tier is Tier.CRISIS else "warning signs"
    alert = (f"PeerLine URGENT: {what} in a text from {sms.phone} at {now:%H:%M} UTC. "
             f"{where} Call them now.")
    log.warning("%s while the database is down: alerting staff directly", what)
    failed = []
    for phone in services.config.safety.staff_phones:
        try:
            services.sender.send(phone, alert)
        except Exception:  # noqa: BLE001 - one failed alert must not stop the others
            failed.append(phone)
            count(services, "direct_alert_failures")
            log.exception("direct alert to staff %s failed", mask(phone))
    return failed


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def count(services: Services, name: str, by: int = 1) -> None:
    """Add `by` to this process's counter `name` (shown by /metrics and /healthz)."""
    counters = services.counters
    with _COUNTER_LOCK:
        counters[name] = counters.get(name, 0) + by


def counters(services: Services) -> dict[str, int]:
    """Return this process's spool counters (each starts at 0 when the process starts)."""
    found = services.counters
    return {name: int(found.get(name, 0)) for name in COUNTERS}


def remove_partial_files(services: Services, older_than: float = PARTIAL_STALE) -> int:
    """Delete temporary files a failed or killed spool write left; return how many."""
    folder = spool_path(services)
    removed = 0
    try:
        partials = list(folder.glob(".*.tmp"))
    except OSError:
        return 0
    for path in partials:
        try:
            if time.time() - path.stat().st_mtime < older_than:
                continue  # a write in progress (they take milliseconds)
            path.unlink()
            removed += 1
        except OSError:
            continue
    if removed:
        count(services, "partial_files_removed", removed)
        log.warning("removed %d partial spool files left by failed or killed writes", removed)
    return removed


@contextlib.contextmanager
def _replay_lock(folder: Path) -> Iterator[bool]:
    """Hold the folder's replay lock if no other process does; yield whether it is held."""
    fd = os.open(folder / ".replay.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def pending_files(folder: Path) -> list[Path]:
    """Return the spooled texts, oldest first (a file another replay just removed is left out)."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.json"):
        try:
            found.append((path.stat().st_mtime, path.name, path))
        except FileNotFoundError:
            continue
    return [path for _, _, path in sorted(found)]


def _set_aside(path: Path, why: str) -> None:
    """Rename a spool file that cannot be replayed to *.failed, for a person to look at."""
    log.exception("spool file %s %s; set aside as %s.failed", path.name, why, path.name)
    try:
        path.replace(path.with_name(path.name + ".failed"))
    except OSError:
        log.warning("could not set spool file %s aside", path.name)


def spooled_count(services: Services) -> int:
    """Return how many texts wait in this node's spool, or were set aside (/healthz, /metrics)."""
    folder = spool_path(services)
    try:
        return len(pending_files(folder)) + len(list(folder.glob("*.json.failed")))
    except OSError:
        return 0


def replay_spool(services: Services, now: datetime, limit: int = 500) -> int:
    """Store and answer spooled texts (oldest first); return how many were replayed."""
    # Function-level: breaks the cycle pipeline -> spool (replay_if_due) -> pipeline.
    from bot.inbound.pipeline import process_late

    folder = spool_path(services)
    remove_partial_files(services)
    files = pending_files(folder)
    if not files:
        return 0
    done = 0
    with _replay_lock(folder) as held:
        if not held:
            return 0
        for path in files[:limit]:
            try:
                record = json.loads(path.read_text())
                sms = InboundSms(sid=record["sid"], phone=record["phone"], body=record["body"],
                                 num_media=int(record["num_media"]))
                received = datetime.fromisoformat(record["received_at"])
                answered = bool(record.get("crisis_answered", False))
                verdict = _verdict(record)
                answered = answered or verdict is not None and verdict.tier is not Tier.NONE
                alerted = [str(p) for p in record.get("staff_alerted") or []]
            except FileNotFoundError:
                continue  # replayed by another process meanwhile
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                _set_aside(path, "is unreadable")
                continue
            try:
                message_id = store_inbound(services.db.active_engine, sms, received)
                process_late(services, message_id, now, answered=answered, verdict=verdict,
                             staff_alerted=alerted)
            except DATABASE_DOWN:
                raise
            except Exception:  # noqa: BLE001 - one bad file must not hold up the others
                _set_aside(path, "could not be stored")
                continue
            path.unlink(missing_ok=True)
            done += 1
    if done:
        log.warning("replayed %d spooled inbound texts", done)
    return done


def _verdict(record: dict[str, Any]) -> Verdict | None:
    """Return the verdict the webhook gave a spooled text (None in files from before it)."""
    if record.get("tier") not in tuple(Tier):
        return Verdict(Tier.CRISIS) if record.get("crisis_answered") else None
    return Verdict(Tier(record["tier"]), record.get("rule"), record.get("family"))


def replay_if_due(services: Services, now: datetime, monotonic: Any = time.monotonic) -> None:
    """Replay this node's spool if it has files and REPLAY_EVERY seconds have passed."""
    tick = monotonic()
    if tick - services.spool_looked_at < REPLAY_EVERY:
        return
    services.spool_looked_at = tick
    try:
        replay_spool(services, now, limit=REPLAY_IN_REQUEST)
    except DATABASE_DOWN:
        log.warning("spool replay postponed: database unreachable")
    except Exception:  # noqa: BLE001 - the text just answered must still get its reply
        log.exception("spool replay failed; will try again")
