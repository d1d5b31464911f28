"""escalation kind: room for "coach_request" (13 letters) on PostgreSQL

Revision ID: 0008_escalation_kind
Revises: 0007_connection

A veteran's COACH request opens an escalation of kind "coach_request", which
PostgreSQL refused in the old VARCHAR(12) (SQLite ignores lengths, so only
PostgreSQL failed). The column grows to 20.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_escalation_kind"
down_revision = "0007_connection"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.alter_column("kind", existing_type=sa.String(length=12),
                              type_=sa.String(length=20), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.alter_column("kind", existing_type=sa.String(length=20),
                              type_=sa.String(length=12), existing_nullable=False)
