"""Retention (`[data] retention`, default 2y): blank old words, keep scores, timings and counts.

Rules (SPEC §13):
- Older than the retention window, these are blanked, never deleted (rows, times,
  statuses and counts stay for the research): message bodies and the TwiML replies
  stored with them, drafted nudge texts, escalation notes, free-text answers, and the
  variables of finished conversations.
- Number and yes/no answers (scores) are kept.
- Every purge, from `peerline purge` or the daily scheduler job, is audited with
  what it blanked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, update
from sqlalchemy.orm import Session

from bot.core.config import retention_of
from bot.domain.export import text_variables
from bot.models import AuditLog, CheckinAnswer, EscalationNote, Message, Nudge, Run
from bot.services import Services

# A kept answer is a score or a flag; anything else is a veteran's own words.
_SCORE = r"^ *-?[0-9]+(\.[0-9]+)? *$"
FLAGS = ("true", "false", "yes", "no", "True", "False")


def _changed(session: Session, statement: Any) -> int:
    """Run an UPDATE; return how many rows it changed."""
    result = cast(CursorResult[Any], session.execute(
        statement.execution_options(synchronize_session=False)))
    return int(result.rowcount or 0)


def purge(session: Session, services: Services, now: datetime, *, actor: str) -> dict[str, Any]:
    """Blank what is older than the retention window; audit and return what was blanked."""
    before = now - retention_of(services.config)
    flows = services.flows.flows() if services.flows is not None else []
    counts: dict[str, Any] = {}
    counts["messages"] = _changed(session, update(Message).where(
        Message.created_at < before, or_(Message.body != "", Message.reply_twiml.is_not(None)))
        .values(body="", reply_twiml=None))
    counts["nudges"] = _changed(session, update(Nudge).where(
        Nudge.created_at < before, or_(Nudge.body != "", Nudge.original_body != ""))
        .values(body="", original_body="", sms_edit_body=None))
    counts["notes"] = _changed(session, update(EscalationNote).where(
        EscalationNote.created_at < before, EscalationNote.body != "").values(body=""))
    free = [and_(CheckinAnswer.flow_id == flow, CheckinAnswer.variable == variable)
            for flow, variable in text_variables(flows)]
    words = ~CheckinAnswer.value.regexp_match(_SCORE) & CheckinAnswer.value.not_in(FLAGS)
    counts["answers"] = _changed(session, update(CheckinAnswer).where(
        CheckinAnswer.answered_at < before, CheckinAnswer.value != "", or_(words, *free))
        .values(value=""))
    counts["runs"] = _changed(session, update(Run).where(
        Run.ended_at.is_not(None), Run.started_at < before).values(variables={}))
    counts["before"] = before.isoformat()
    session.add(AuditLog(actor=actor, action="data.purge", target_type="data",
                         detail=counts, created_at=now))
    return counts


def describe(counts: dict[str, Any]) -> str:
    """Say in one line what a purge blanked."""
    return (f"blanked {counts['messages']} messages, {counts['nudges']} drafts, "
            f"{counts['notes']} notes, {counts['answers']} free-text answers and "
            f"{counts['runs']} finished conversations older than {counts['before']}")
