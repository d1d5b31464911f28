"""Draft nudges from the staff schedules in flows/nudges.yaml into each coach's approval queue.

Rules:
- A schedule's cron runs in the participant's local time; its draft is due
  at the occurrence (or at the end of quiet hours) and is drafted up to
  `DRAFT_LEAD` ahead, so the coach's morning digest shows the day's drafts
  before they are due. Lateness (`max_late`) counts from the due time. Who is
  due is asked twice per occurrence and zone: when drafting ahead, and again
  once it is due, for participants who became eligible in between.
- One draft per participant, schedule and occurrence: the nudge's unique
  `event_key` (`schedule:ID:LOCAL-TIME:PID`); the query of who is due skips
  keys that exist, so a pass over nothing due is one query per zone.
- The text is picked by bot/flows/program_files.py, never the one drafted last
  for that participant and schedule; strategy reminders only for
  participants who picked strategies.
- Set-based, CHUNK participants per transaction: one query for their last
  texts, then the runtime's writer (bot/runtime/writer.py) inserts the drafts
  with one INSERT that skips event keys already there (ON CONFLICT DO
  NOTHING, so a concurrent pass drafts nothing twice).
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, exists, func, literal, select
from sqlalchemy.orm import Session, selectinload

from bot.core.once import minute, once_key
from bot.domain.nudges import draft_row, expire_stale_drafts
from bot.domain.program_arc import Status
from bot.flows.program_files import pick_for, program_cache, render
from bot.models import Nudge, Participant
from bot.runtime.context import context_for
from bot.runtime.writer import Writer
from bot.services import Services
from scheduler.checkins import (
    CATCH_UP,
    Occurrence,
    active_zones,
    mark_zone_done,
    occurrences,
    zone_done,
)

log = logging.getLogger(__name__)
DRAFT_LEAD = timedelta(hours=24)
CHUNK = 1000


def _key(schedule_id: str, occ: Occurrence) -> str:
    return once_key("schedule", schedule_id, minute(occ.local), "")


def _due_ids(services: Services, schedule: Any, occ: Occurrence) -> list[int]:
    key = literal(_key(schedule.id, occ), String) + cast(Participant.id, String)
    query = select(Participant.id).where(
        Participant.status == Status.ACTIVE, Participant.timezone == occ.zone,
        Participant.enrolled_at <= occ.at, ~exists().where(Nudge.event_key == key))
    if schedule.from_strategies:
        query = query.where(func.coalesce(cast(Participant.strategies, String), "[]") != "[]")
    with services.db.session() as session:
        return list(session.scalars(query.order_by(Participant.id)))


def _last_texts(session: Session, ids: list[int], source: str) -> dict[int, str]:
    """Return the text each participant was drafted last from `source` (one query)."""
    newest = func.row_number().over(partition_by=Nudge.participant_id,
                                    order_by=(Nudge.created_at.desc(), Nudge.id.desc()))
    ranked = (select(Nudge.participant_id, Nudge.original_body, newest.label("newest"))
              .where(Nudge.participant_id.in_(ids), Nudge.source == source).subquery())
    rows = session.execute(select(ranked.c.participant_id, ranked.c.original_body)
                           .where(ranked.c.newest == 1))
    return {participant_id: body for participant_id, body in rows}


def _draft(services: Services, schedule: Any, occ: Occurrence, ids: list[int],
           now: datetime) -> int:
    """Draft the chunk's nudges in one transaction (nudges.draft_row rows, the runtime's writer)."""

    strategies = program_cache(services).strategies()
    source = f"schedule:{schedule.id}"
    with services.db.session() as session:
        last = _last_texts(session, ids, source)
        writer = Writer(session, services, now)
        for participant in session.scalars(select(Participant).where(Participant.id.in_(ids))
                                           .options(selectinload(Participant.coach))
                                           .order_by(Participant.id)):
            key = f"{_key(schedule.id, occ)}{participant.id}"
            template = pick_for(schedule, strategies, participant.strategies or [],
                                last.get(participant.id), key)
            if template is None:
                continue
            context = context_for(services, participant)
            try:
                body = render(template, {"participant": context.participant,
                                         "coach": context.coach, "program": context.program})
            except Exception:  # noqa: BLE001 - a bad text must not stop the other drafts
                log.exception("schedule %s: text did not render", schedule.id)
                continue
            row = draft_row(participant, body=body, reason=schedule.reason, source=source,
                            event_key=key, due_at=occ.due, now=now,
                            max_lateness=schedule.max_late)
            writer.draft(functools.partial(dict, row))
        writer.write()
        return writer.drafted


def draft_scheduled_nudges(services: Services, now: datetime) -> str:
    """Draft every scheduled nudge due within DRAFT_LEAD for each active participant (once)."""
    expired = _expire_hourly(services, now)
    schedules = program_cache(services).schedules()
    if not schedules:
        return "no nudge schedules" + expired
    quiet = services.config.program.quiet_hours
    drafted = 0
    zones = active_zones(services)
    for schedule in schedules:
        for zone in zones:
            for occ in occurrences(schedule.id, schedule.cron, zone, quiet,
                                   now - min(CATCH_UP, schedule.max_late), now + DRAFT_LEAD):
                # Twice per occurrence: a day ahead, for the coach's time to approve, and
                # once it is due, for those who became eligible in between (enrolled,
                # resumed, picked skills); the draft's event_key keeps anyone from two.
                phase = ":due" if occ.at <= now else ""
                done_key = f"drafts-done:{_key(schedule.id, occ)[9:]}{zone}{phase}"
                if zone_done(services, done_key):
                    continue
                ids = _due_ids(services, schedule, occ)
                for i in range(0, len(ids), CHUNK):
                    drafted += _draft(services, schedule, occ, ids[i:i + CHUNK], now)
                mark_zone_done(services, done_key, now)
    return f"{drafted} nudges drafted" + expired


def _expire_hourly(services: Services, now: datetime) -> str:
    """Expire drafts past their lateness, once an hour; return a summary suffix."""
    key = f"drafts-expired:{now:%Y-%m-%dT%H}"
    if zone_done(services, key):
        return ""
    with services.db.session() as session:
        count = expire_stale_drafts(session, now)
    mark_zone_done(services, key, now)
    return f"; {count} stale drafts expired" if count else ""
