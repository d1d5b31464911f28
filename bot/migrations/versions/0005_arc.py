"""The program's arc: each participant's program end and PEG baseline.

Revision ID: 0005_arc
Revises: 0004_crisis_path
"""

from __future__ import annotations

from datetime import UTC, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0005_arc"
down_revision = "0004_crisis_path"
branch_labels = None
depends_on = None

DEFAULT_LENGTH = timedelta(weeks=16)  # [program] length's default when this revision was made


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("program_end_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("peg_baseline", sa.JSON(), nullable=True))
    # Veterans enrolled before this revision get the default length from their enrolment,
    # so the arc job never reads a moving end for them.
    participants = sa.table("participants", sa.column("id", sa.Integer),
                            sa.column("enrolled_at", sa.DateTime(timezone=True)),
                            sa.column("program_end_at", sa.DateTime(timezone=True)))
    conn = op.get_bind()
    rows = conn.execute(sa.select(participants.c.id, participants.c.enrolled_at)).all()
    for row_id, enrolled_at in rows:
        start = enrolled_at if enrolled_at.tzinfo else enrolled_at.replace(tzinfo=UTC)
        conn.execute(participants.update().where(participants.c.id == row_id)
                     .values(program_end_at=(start + DEFAULT_LENGTH).astimezone(UTC)))


def downgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.drop_column("peg_baseline")
        batch.drop_column("program_end_at")
