"""Keep inbound texts the database could not take; replay them when it is back.

Twilio does not retry a webhook that fails, so a text that arrives while the
database is unreachable would be lost. Rules:

- Used only when storing or processing a text fails because the database
  cannot be reached (SQLAlchemy OperationalError or InterfaceError; a text
  stored before the failure is deduplicated on replay). The text goes to
  `database.spool_dir` as one JSON file named after its MessageSid: written
  to a temporary file, fsynced, then renamed, so a file is whole or absent
  and a repeated sid is one file. Files are 0600 in a 0700 folder: they hold
  bodies and phone numbers, as the database does. The folder is per node.
- The webhook still answers 200. Crisis language (the same matcher, already in
  memory) gets the crisis reply in the TwiML at once, and every
  `safety.staff_phones` is texted directly (no outbox: that needs the
  database). That alert carries the sender's number, since the dashboard is
  down too and staff must be able to call. Anything else gets an empty
  answer now and its replies through the outbox on replay.
- Replay (when a new text has been stored and before it is processed, so the
  older texts are answered first; at most every REPLAY_EVERY seconds per
  process; and in the scheduler's inbound_recovery job) takes the folder's
  flock without waiting, stores each file's text with its arrival time
  (deduplicated on the sid), processes it as a late text, and deletes the
  file only after that commit. Oldest first. A crisis reply already given in
  the TwiML is recorded as sent, not sent again; the escalation is opened then.
  A file that cannot be read or stored is renamed `*.json.failed` (logged
  once) so it holds up nothing; /healthz counts it until a person removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from bot.core.phones import mask
from bot.inbound.crisis import safe_matcher
from bot.services import Services

log = logging.getLogger(__name__)
DATABASE_DOWN = (OperationalError, InterfaceError)
REPLAY_EVERY = 2.0  # seconds between a process's looks at its spool
REPLAY_IN_REQUEST = 50  # files one webhook request replays (~5 ms each); the job takes more


def spool_path(services: Services) -> Path:
    """Return this node's spool folder."""
    return Path(services.config.database.spool_dir)


def spool_text(folder: Path, sms: Any, received_at: datetime, crisis_answered: bool) -> Path:
    """Write one text durably to the spool; return its file."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = folder / f"{sms.sid}.json"
    temporary = folder / f".{sms.sid}.{os.getpid()}.tmp"
    record = {"sid": sms.sid, "phone": sms.phone, "body": sms.body,
              "num_media": sms.num_media, "received_at": received_at.isoformat(),
              "crisis_answered": crisis_answered}
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:  # writes it all (os.write may write part)
        handle.write(json.dumps(record).encode())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return final


def answer_while_down(services: Services, sms: Any, now: datetime) -> str:
    """Spool a text the database could not take; return its TwiML (crisis reply or empty)."""
    # Function-level: breaks the cycle pipeline -> spool (answer_while_down) -> pipeline.
    from bot.inbound.pipeline import render_twiml

    matcher = safe_matcher(services)
    crisis = matcher.match(sms.body) is not None
    folder = spool_path(services)
    if (folder / f"{sms.sid}.json").exists():  # a repeated MessageSid: same answer, no new alert
        log.warning("database unreachable: inbound %s repeated; already spooled", sms.sid)
        return render_twiml([matcher.reply] if crisis else [])
    spool_text(folder, sms, now, crisis_answered=crisis)
    log.error("database unreachable: inbound %s from %s spooled for replay",
              sms.sid, mask(sms.phone))
    if not crisis:
        return render_twiml([])
    log.warning("crisis language while the database is down: alerting staff directly")
    alert = (f"PeerLine URGENT: crisis words in a text from {sms.phone} at "
             f"{now:%H:%M} UTC. The database is down, so it is not on the dashboard yet. "
             f"Call them now.")
    for phone in services.config.safety.staff_phones:
        try:
            services.sender.send(phone, alert)
        except Exception:  # noqa: BLE001 - one failed alert must not stop the others
            log.exception("direct crisis alert to staff %s failed", mask(phone))
    return render_twiml([matcher.reply])


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
    from bot.inbound.pipeline import InboundSms, process_late, store_inbound

    folder = spool_path(services)
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
            except FileNotFoundError:
                continue  # replayed by another process meanwhile
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                _set_aside(path, "is unreadable")
                continue
            try:
                message_id = store_inbound(services.db.engine, sms, received)
                process_late(services, message_id, now, answered=answered)
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
