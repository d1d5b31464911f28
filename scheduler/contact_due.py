"""Remind coaches of a contact due (SPEC §11): once per due period, in the coach's daytime.

Rules:
- Due: an active veteran whose last call, visit or text (else their
  enrolment) is `[program] contact_every` old (bot/contacts.py decides).
- One text per veteran per period: the once-mark names the veteran, the
  contact the period counts from and the period's number, so a new contact
  starts over and a second period (overdue) reminds once more.
- The text carries a first name and an id, never words; it waits in the
  outbox for the end of the coach's quiet hours (bot/sending/claims.py).
- Due veterans are read BATCH at a time in id order (keyset), each batch's
  once-marks in one query, until BATCH reminders are queued (the rest go next
  pass): veterans already reminded this period never hold the places of
  those after them, and a pass stays short however many are due.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.domain.contacts import REACHED, contact_every
from bot.domain.program_arc import Status
from bot.models import Coach, Contact, OnceMark, Participant
from bot.outbox.queue import PRIORITY_NORMAL, queue_message
from bot.services import Services

BATCH = 5000


def reminder_text(first_name: str, participant_id: int, days: int) -> str:
    """Return the reminder: who, how long, and the command to log the contact."""
    return (f"PeerLine: contact due with {first_name} (P{participant_id}): no call, visit or "
            f"text in {days} days. After you talk, reply LOG P{participant_id} call MINUTES")


def contact_due_reminders(services: Services, now: datetime) -> str:
    """Text each coach once per due period about each veteran who is contact due."""
    every = contact_every(services.config)
    last = (select(Contact.participant_id, func.max(Contact.contact_at).label("at"))
            .where(Contact.kind.in_(REACHED)).group_by(Contact.participant_id).subquery())
    since = func.coalesce(last.c.at, Participant.enrolled_at)
    due = (select(Participant.id, Participant.name, since, Coach.id, Coach.phone)
           .join(Coach, Coach.id == Participant.coach_id)
           .outerjoin(last, last.c.participant_id == Participant.id)
           .where(Participant.status == Status.ACTIVE, Coach.active, Coach.phone.is_not(None),
                  since <= now - every)
           .order_by(Participant.id).limit(BATCH))
    sent = seen = after = 0
    while True:
        with services.db.reading() as session:
            rows = session.execute(due.where(Participant.id > after)).all()
            keys = {pid: f"contactdue:{pid}:{start:%Y%m%dT%H%M%S}:{int((now - start) / every)}"
                    for pid, _name, start, _coach, _phone in rows}
            done = set(session.scalars(select(OnceMark.key).where(
                OnceMark.key.in_(list(keys.values()))))) if keys else set()
        for pid, name, start, coach_id, phone in rows:
            if sent >= BATCH:
                break
            seen += 1
            if keys[pid] not in done and _remind(services, keys[pid], pid, name, start,
                                                 coach_id, phone, now):
                sent += 1
        if len(rows) < BATCH or sent >= BATCH:
            return f"{sent} contact-due reminders queued ({seen} veterans due)"
        after = rows[-1][0]


def _remind(services: Services, key: str, pid: int, name: str, start: datetime, coach_id: int,
            phone: str, now: datetime) -> bool:
    """Queue one reminder under its once-mark; False if a concurrent pass queued it."""
    try:
        with services.db.session() as session:
            if session.get(OnceMark, key) is not None:
                return False
            session.add(OnceMark(key=key, created_at=now))
            session.flush()
            first = name.split()[0] if name.split() else name
            queue_message(session, phone=phone, body=reminder_text(first, pid,
                                                                   (now - start).days),
                          kind="contact_due", now=now, coach_id=coach_id,
                          to_participant=False, respect_quiet_hours=True,
                          priority=PRIORITY_NORMAL)
        return True
    except IntegrityError:
        return False  # a concurrent pass sent it
