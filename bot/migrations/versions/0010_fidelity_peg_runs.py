"""fidelity: PEG answers by veteran and run (each month's latest check-in, in SQL)

Revision ID: 0010_fidelity_peg_runs
Revises: 0009_dashboard_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_fidelity_peg_runs"
down_revision = "0009_dashboard_indexes"
branch_labels = None
depends_on = None

# bot.models.PEG_ANSWER as of this revision: every spelling of a PEG item.
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


def upgrade() -> None:
    with op.batch_alter_table("checkin_answers") as batch_op:
        batch_op.create_index("ix_checkin_answers_peg_runs", ["participant_id", "run_id"],
                              unique=False, sqlite_where=sa.text(PEG_ANSWER),
                              postgresql_where=sa.text(PEG_ANSWER))


def downgrade() -> None:
    with op.batch_alter_table("checkin_answers") as batch_op:
        batch_op.drop_index("ix_checkin_answers_peg_runs", sqlite_where=sa.text(PEG_ANSWER),
                            postgresql_where=sa.text(PEG_ANSWER))
