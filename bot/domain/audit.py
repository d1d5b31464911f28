"""Build every audit-log row: who did what to which record, when.

Rules:
- `actor` is `VIA:coach:ID` when a coach or staff member acts (VIA is web,
  sms or cli), else VIA alone ("system", "cli", "web" for someone not signed in).
- `actor_id` is the acting coach's id; a failed or locked login names the
  account it tried (`actor_id=`) while the actor stays "web".
- Details carry ids and counts, never a veteran's words or phone number.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.models import AuditLog, Coach


def audit_row(action: str, now: datetime, *, coach: Coach | None = None, via: str = "system",
              actor_id: int | None = None, target_type: str | None = None,
              target_id: int | None = None, **detail: Any) -> dict[str, Any]:
    """Return the columns of one audit-log row (written by audit() or a bulk writer)."""
    return {"actor_id": coach.id if coach is not None else actor_id,
            "actor": f"{via}:coach:{coach.id}" if coach is not None else via,
            "action": action, "target_type": target_type, "target_id": target_id,
            "detail": detail, "created_at": now}


def audit(session: Session, action: str, now: datetime, *, coach: Coach | None = None,
          via: str = "system", actor_id: int | None = None, target_type: str | None = None,
          target_id: int | None = None, **detail: Any) -> AuditLog:
    """Add one audit-log row to `session` and return it."""
    row = AuditLog(**audit_row(action, now, coach=coach, via=via, actor_id=actor_id,
                               target_type=target_type, target_id=target_id, **detail))
    session.add(row)
    return row
