"""The audit log in people's words: "Alex Rivera opened Sam Carter (P1)".

Rules:
- Who: the account's name; else the part of PeerLine that acted ("The scheduler").
- What: a verb phrase per action; an action not listed shows as it is stored.
- On whom: a veteran as "Name (P<id>)"; a draft or alert also says whose it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import AuditLog, Coach, Escalation, Nudge, Participant

SYSTEM_ACTORS = {"cli": "Someone at the command line", "scheduler": "The scheduler",
                 "system": "PeerLine", "web": "Someone at the login page"}

# action: phrase; {p} is the veteran, {n} the draft or alert number, {d} the detail.
PHRASES = {
    "participant.view": "opened {p}",
    "escalation.view": "opened alert #{n} about {p}",
    "escalation.open": "raised alert #{n} about {p}",
    "escalation.ack": "acknowledged alert #{n} about {p}",
    "escalation.note": "added a note to alert #{n} about {p}",
    "escalation.resolve": "resolved alert #{n} about {p}",
    "nudge.approve": "approved draft #{n} to {p}",
    "nudge.edit": "edited and approved draft #{n} to {p}",
    "nudge.reject": "rejected draft #{n} to {p}",
    "nudge.expire": "found draft #{n} to {p} too late to send",
    "nudge.sms_edit": "texted new words for draft #{n} to {p} (to confirm on the dashboard)",
    "nudges.resume": "resumed nudges for {p}",
    "message.compose": "wrote to {p}",
    "participant.add": "enrolled {p}",
    "participant.enrol": "enrolled {p}",
    "participant.pause": "paused the program of {p}",
    "participant.resume": "resumed the program of {p}",
    "participant.reassign": "gave {p} to another coach",
    "participant.withdraw": "recorded that {p} withdrew",
    "coach.add": "added a coach account",
    "staff.add": "added a staff account",
    "login": "signed in",
    "logout": "signed out",
    "login.failed": "failed to sign in{d}",
    "login.locked": "tried to sign in while locked out{d}",
    "password.change": "changed their password",
    "data.purge": "blanked texts older than the retention window",
    "crisis.not_participant": "saw crisis words from a number that is not a veteran",
}


def _veterans(db: Session, entries: list[AuditLog]) -> dict[tuple[str, int], Participant]:
    """Return the veteran each entry is about, keyed by (target type, target id)."""
    ids: dict[str, set[int]] = {}
    for e in entries:
        if e.target_type and e.target_id is not None:
            ids.setdefault(e.target_type, set()).add(e.target_id)
    owner: dict[tuple[str, int], int] = {("participant", i): i
                                        for i in ids.get("participant", set())}
    for kind, model in (("escalation", Escalation), ("nudge", Nudge)):
        if ids.get(kind):
            for row_id, pid in db.execute(select(model.id, model.participant_id)
                                          .where(model.id.in_(ids[kind]))):
                if pid is not None:  # an alert about an unknown number has no veteran
                    owner[(kind, row_id)] = pid
    people = {p.id: p for p in db.scalars(select(Participant).where(
        Participant.id.in_(set(owner.values()))))} if owner else {}
    return {key: people[pid] for key, pid in owner.items() if pid in people}


def _detail(entry: AuditLog) -> str:
    detail = entry.detail or {}
    if entry.action.startswith("login") and detail.get("username"):
        return f" as {detail['username']!r}"
    return ""


def sentences(db: Session, entries: Iterable[AuditLog]) -> list[tuple[AuditLog, str]]:
    """Return each entry with a sentence saying who did what to whom."""
    rows = list(entries)
    actors = {c.id: c.name for c in db.scalars(select(Coach).where(
        Coach.id.in_({e.actor_id for e in rows if e.actor_id is not None})))}
    veterans = _veterans(db, rows)
    said = []
    for e in rows:
        who = actors.get(e.actor_id or -1) or SYSTEM_ACTORS.get(e.actor.split(":")[0], e.actor)
        veteran = veterans.get((e.target_type or "", e.target_id or -1))
        p = f"{veteran.name} (P{veteran.id})" if veteran else "a veteran"
        phrase = PHRASES.get(e.action)
        if e.action == "export":
            detail: dict[str, Any] = e.detail or {}
            extra = ", with veterans' own words" if detail.get("free_text") else ""
            what = f"downloaded the {detail.get('kind', e.target_type)} export " \
                   f"({detail.get('rows', '?')} rows{extra})"
        elif phrase is None:
            what = e.action.replace(".", " ").replace("_", " ")
        else:
            what = phrase.format(p=p, n=e.target_id, d=_detail(e))
        said.append((e, f"{who} {what}"))
    return said
