"""privacy and hardening: session version, consent record, withdrawal, held SMS edits

Revision ID: 0006_privacy
Revises: 0005_arc
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_privacy"
down_revision = "0005_arc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("coaches") as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), nullable=False,
                                      server_default="0"))
    with op.batch_alter_table("participants") as batch_op:
        batch_op.add_column(sa.Column("consent_version", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("withdrawal_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("consent_events") as batch_op:
        batch_op.add_column(sa.Column("version", sa.String(length=40), nullable=True))
    with op.batch_alter_table("nudges") as batch_op:
        batch_op.add_column(sa.Column("sms_edit_body", sa.Text(), nullable=True))
    with op.batch_alter_table("login_failures") as batch_op:
        batch_op.add_column(sa.Column("username", sa.String(length=80), nullable=True))
        batch_op.create_index("ix_login_failures_username_created", ["username", "created_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_failures") as batch_op:
        batch_op.drop_index("ix_login_failures_username_created")
        batch_op.drop_column("username")
    with op.batch_alter_table("nudges") as batch_op:
        batch_op.drop_column("sms_edit_body")
    with op.batch_alter_table("consent_events") as batch_op:
        batch_op.drop_column("version")
    with op.batch_alter_table("participants") as batch_op:
        for column in ("withdrawal_reason", "withdrawn_at", "consented_at", "consent_version"):
            batch_op.drop_column(column)
    with op.batch_alter_table("coaches") as batch_op:
        batch_op.drop_column("session_version")
