"""Tell Alembic autogenerate which database tables are not PeerLine's own."""

from __future__ import annotations

NOT_OURS = frozenset({"apscheduler_jobs"})  # APScheduler's job store creates and owns this table


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave tables PeerLine does not own out of autogenerate."""
    return not (type_ == "table" and name in NOT_OURS)
