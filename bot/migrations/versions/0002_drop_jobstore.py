"""drop the APScheduler job store table

Revision ID: 0002_drop_jobstore
Revises: 0001
Create Date: 2026-12-04 22:40:00

The scheduler keeps its jobs in memory now (they are recreated at every start),
so the table APScheduler's SQLAlchemy job store created beside ours goes away.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_drop_jobstore"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "apscheduler_jobs"  # created by APScheduler at run time, never by a migration


def upgrade() -> None:
    if TABLE in sa.inspect(op.get_bind()).get_table_names():
        op.drop_table(TABLE)


def downgrade() -> None:
    pass  # nothing to restore: APScheduler created the table itself, and no longer uses one
