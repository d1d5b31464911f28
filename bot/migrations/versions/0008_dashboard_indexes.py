"""dashboard indexes: answers by veteran and time, veterans by name, open alerts, the inbox

Revision ID: 0008_dashboard_indexes
Revises: 0007_connection
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_dashboard_indexes"
down_revision = "0007_connection"
branch_labels = None
depends_on = None

OPEN = "resolved_at IS NULL"
UNREAD = "read_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("checkin_answers") as batch_op:
        # The composite index serves every lookup the single-column one did.
        batch_op.drop_index("ix_checkin_answers_participant_id")
        batch_op.create_index("ix_checkin_answers_participant_answered",
                              ["participant_id", "answered_at"], unique=False)
    with op.batch_alter_table("participants") as batch_op:
        batch_op.create_index("ix_participants_name", ["name", "id"], unique=False)
    with op.batch_alter_table("escalations") as batch_op:
        batch_op.create_index("ix_escalations_open", ["participant_id", "created_at"],
                              unique=False, postgresql_where=sa.text(OPEN),
                              sqlite_where=sa.text(OPEN))
    with op.batch_alter_table("inbox_items") as batch_op:
        batch_op.create_index("ix_inbox_items_coach_created", ["coach_id", "created_at"],
                              unique=False)
        batch_op.create_index("ix_inbox_items_created", ["created_at"], unique=False)
        batch_op.create_index("ix_inbox_items_unread", ["participant_id"], unique=False,
                              postgresql_where=sa.text(UNREAD), sqlite_where=sa.text(UNREAD))


def downgrade() -> None:
    with op.batch_alter_table("inbox_items") as batch_op:
        batch_op.drop_index("ix_inbox_items_unread", postgresql_where=sa.text(UNREAD),
                            sqlite_where=sa.text(UNREAD))
        batch_op.drop_index("ix_inbox_items_created")
        batch_op.drop_index("ix_inbox_items_coach_created")
    with op.batch_alter_table("escalations") as batch_op:
        batch_op.drop_index("ix_escalations_open", postgresql_where=sa.text(OPEN),
                            sqlite_where=sa.text(OPEN))
    with op.batch_alter_table("participants") as batch_op:
        batch_op.drop_index("ix_participants_name")
    with op.batch_alter_table("checkin_answers") as batch_op:
        batch_op.drop_index("ix_checkin_answers_participant_answered")
        batch_op.create_index("ix_checkin_answers_participant_id", ["participant_id"],
                              unique=False)
