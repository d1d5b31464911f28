"""index messages by phone and time, for the safety screen's previous-text lookup

Revision ID: 0004_crisis_path
Revises: 0003_crisis_alerts
"""

from __future__ import annotations

from alembic import op

revision = "0004_crisis_path"
down_revision = "0003_crisis_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_phone_created", "messages", ["phone", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_phone_created", table_name="messages")
