"""Flow runs (the engine's RunState, stored) and the answers they saved.

Rules:
- PEG_ANSWER names every spelling of a PEG item, equal to bot.domain.peg.PEG_VARIABLES
  (tests/test_fidelity_peg.py); the partial index ix_checkin_answers_peg_runs is built on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base


class Run(Base):
    """One participant's progress through one flow (the engine's RunState, stored)."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_participant_status", "participant_id", "status"),
        Index("ix_runs_status_timeout", "status", "timeout_at"),
        Index("ix_runs_status_expires", "status", "expires_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    flow_id: Mapped[str] = mapped_column(String(80))
    flow_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="active")  # runtime.states.RunStatus
    step: Mapped[str | None] = mapped_column(String(80))
    waiting: Mapped[bool] = mapped_column(Boolean, default=False)
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    wait_token: Mapped[str | None] = mapped_column(String(40))
    asked_at: Mapped[datetime | None]
    timeout_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    trigger: Mapped[str] = mapped_column(String(20), default="keyword")
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


# The PEG answers, every spelling of an item (bot.domain.peg.PEG_VARIABLES, which
# tests/test_fidelity_peg.py keeps equal): fidelity sums them run by run.
PEG_ANSWER = ("lower(variable) IN ("
              "'pain', 'pain_average', 'average_pain', 'enjoyment', 'enjoy', "
              "'enjoyment_of_life', 'interference_enjoyment', 'activity', 'general_activity', "
              "'activities', 'interference_activity', 'participant.pain', "
              "'participant.pain_average', 'participant.average_pain', 'participant.enjoyment', "
              "'participant.enjoy', 'participant.enjoyment_of_life', "
              "'participant.interference_enjoyment', 'participant.activity', "
              "'participant.general_activity', 'participant.activities', "
              "'participant.interference_activity', 'peg_pain', 'peg_pain_average', "
              "'peg_average_pain', 'peg_enjoyment', 'peg_enjoy', 'peg_enjoyment_of_life', "
              "'peg_interference_enjoyment', 'peg_activity', 'peg_general_activity', "
              "'peg_activities', 'peg_interference_activity', 'peg.pain', 'peg.pain_average', "
              "'peg.average_pain', 'peg.enjoyment', 'peg.enjoy', 'peg.enjoyment_of_life', "
              "'peg.interference_enjoyment', 'peg.activity', 'peg.general_activity', "
              "'peg.activities', 'peg.interference_activity'"
              ")")


class CheckinAnswer(Base):
    """A saved flow answer, for the research export."""

    __tablename__ = "checkin_answers"
    # A veteran's answers by time: the last check-in and the recent PEG weeks (dashboard);
    # PEG answers by run: each month's latest check-in (fidelity).
    __table_args__ = (Index("ix_checkin_answers_participant_answered", "participant_id",
                            "answered_at"),
                      Index("ix_checkin_answers_peg_runs", "participant_id", "run_id",
                            sqlite_where=text(PEG_ANSWER), postgresql_where=text(PEG_ANSWER)))
    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    flow_id: Mapped[str] = mapped_column(String(80))
    variable: Mapped[str] = mapped_column(String(80))
    value: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime | None]
    answered_at: Mapped[datetime]
