"""The states of a flow run (`runs.status`): the runtime moves them, everyone reads them.

Rules:
- A run starts *active* and leaves it once, when it ends: *ended* (the flow
  finished, or a newer run or a crisis closed it) or *expired* (its `expires`
  time passed unanswered). Nothing moves a run back to active; `ended_at` is
  set in the same write.
- Code names these values by RunStatus, never by bare strings (members compare
  equal to the stored text, so rows read back match).
- bot/domain reads runs too but sits below bot/runtime (the runtime imports
  it), so it must not import this module (import-linter: no sibling cycles);
  it asks "has the run finished?" with `Run.ended_at`, which the same write sets.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a flow run is: still going, or finished one of two ways."""

    ACTIVE = "active"
    ENDED = "ended"
    EXPIRED = "expired"
