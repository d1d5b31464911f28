"""arc indexes: veterans by program end, and by status and enrolment week

Without them the program-arc job scanned every active veteran three times a
tick (100,000 veterans: 53 ms of an idle pass; 12 ms with them, measured on a
copy by the no-regression check in docs/performance.md).

Revision ID: 0011_arc_indexes
Revises: 0010_fidelity_peg_runs
"""

from __future__ import annotations

from alembic import op

revision = "0011_arc_indexes"
down_revision = "0010_fidelity_peg_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("participants") as batch_op:
        batch_op.create_index("ix_participants_program_end", ["program_end_at"], unique=False)
        batch_op.create_index("ix_participants_status_enrolled", ["status", "enrolled_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("participants") as batch_op:
        batch_op.drop_index("ix_participants_status_enrolled")
        batch_op.drop_index("ix_participants_program_end")
