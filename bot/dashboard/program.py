"""A veteran's program on the dashboard: the week, PEG change from baseline, goals; staff's
extend and end.

Rules:
- Everyone who may open the veteran's page sees the summary; only staff extend or
  end a program (bot.program_arc does the work and audits it).
- Changing `[program] length` does not move anyone's end; the page says so beside
  the staff form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, Response, flash, request
from sqlalchemy.orm import Session

from bot.dashboard.common import back, blueprint, now, services, staff_required, user
from bot.dashboard.queries import participant_or_404
from bot.domain.goals import Goal, goal_history
from bot.domain.peg import PegScore, change_from_baseline, history
from bot.domain.program_arc import (
    MAX_EXTEND_WEEKS,
    ArcError,
    describe_week,
    end_now,
    end_of,
    extend,
)
from bot.models import Participant

bp = blueprint("program", __name__, url_prefix="/veterans")


@dataclass(frozen=True)
class ProgramSummary:
    """What the veteran's page shows about their program."""

    week: str
    ends: datetime
    baseline: dict[str, Any]
    latest: PegScore | None
    change: float | None
    goals: list[Goal] = field(default_factory=list)

    @property
    def baseline_score(self) -> float | None:
        score = self.baseline.get("score")
        return float(score) if score is not None else None


def program_summary(db: Session, participant: Participant, config: Any,
                    moment: datetime, scores: list[PegScore] | None = None) -> ProgramSummary:
    """Return the program facts for the veteran's page (`scores`: their PEG history, if read)."""
    if scores is None:
        scores = history(db, participant)
    latest = scores[-1] if scores else None
    return ProgramSummary(week=describe_week(participant, config, moment),
                          ends=end_of(participant, config),
                          baseline=dict(participant.peg_baseline or {}), latest=latest,
                          change=change_from_baseline(participant, latest),
                          goals=goal_history(db, participant.id))


@bp.post("/<int:participant_id>/program/extend")
@staff_required
def extend_program(participant_id: int) -> Response:
    """Move a veteran's program end later by a number of weeks."""
    raw = request.form.get("weeks", "").strip()
    weeks = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else 0
    with services().db.session() as db:
        participant = participant_or_404(db, participant_id, user())
        try:
            end = extend(db, participant, weeks, services().config, now(),
                         actor=f"web:coach:{user().id}")
        except ArcError as exc:
            flash(str(exc), "error")
        else:
            flash(f"{participant.first_name}'s program now ends {end:%-d %b %Y}.", "ok")
    return back("veterans.show", participant_id=participant_id)


@bp.post("/<int:participant_id>/program/end")
@staff_required
def end_program(participant_id: int) -> Response:
    """End a veteran's program now; the closing texts follow outside quiet hours."""
    with services().db.session() as db:
        participant = participant_or_404(db, participant_id, user())
        try:
            end_now(db, participant, now(), actor=f"web:coach:{user().id}")
        except ArcError as exc:
            flash(str(exc), "error")
        else:
            flash(f"{participant.first_name}'s program is ending; the closing texts go out "
                  "outside their quiet hours.", "ok")
    return back("veterans.show", participant_id=participant_id)


def init_app(app: Flask) -> None:
    """Register the program routes."""
    app.register_blueprint(bp)
    app.jinja_env.globals["max_extend_weeks"] = MAX_EXTEND_WEEKS
