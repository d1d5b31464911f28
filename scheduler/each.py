"""Run a job's due rows one transaction each, so one broken row never stops the rest."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from bot.services import Services

log = logging.getLogger(__name__)
T = TypeVar("T")


def each(services: Services, due: Iterable[T], act: Callable[[Session, T], Any],
         what: str) -> int:
    """Act on each due item in its own transaction; count what acted (a failure is logged)."""
    done = 0
    for item in due:
        try:
            with services.db.session() as session:
                done += int(bool(act(session, item)))
        except Exception:  # noqa: BLE001 - one broken row must not stop the others
            log.exception("%s %s failed", what, item)
    return done
