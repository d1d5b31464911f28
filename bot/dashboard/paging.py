"""Pages of long lists and the search box: every dashboard list shows PAGE_SIZE rows at most.

Rules:
- Lists show PAGE_SIZE rows to a page; the home page's alert, draft and overdue cards
  (big: each holds forms) CARDS.
- A list's page is a query argument (`page`, or a section's own name on a page
  with several lists); anything that is not a whole number from 1 is page 1.
- A search matches a veteran's name (any part, any case) or their P-number
  ("P12" or "12").
- Page links keep the page's other arguments (the search, other sections' pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request, url_for
from sqlalchemy import ColumnElement, or_

from bot.models import Participant

PAGE_SIZE = 50
CARDS = 25  # alert, draft and overdue cards on the home page: each holds forms
MAX_PAGE = 100_000
MAX_SEARCH = 80


def page_arg(name: str = "page") -> int:
    """Return the page number in query argument `name` (1 when absent or not a number)."""
    raw = request.args.get(name, "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) < MAX_PAGE else 1


def search_arg() -> str:
    """Return the search box's words (`q`), trimmed."""
    return " ".join(request.args.get("q", "").split())[:MAX_SEARCH]


def matching(q: str) -> ColumnElement[bool] | None:
    """Return a WHERE clause for veterans whose name or P-number matches `q` (None: all)."""
    if not q:
        return None
    number = q.upper().removeprefix("P").strip()
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    by_name = Participant.name.ilike(f"%{escaped}%", escape="\\")
    if number.isdigit() and len(number) < 10:
        return or_(Participant.id == int(number), by_name)
    return by_name


@dataclass(frozen=True)
class Pager:
    """Where a list's page stands: its number, whether more pages exist, the total if known."""

    param: str
    page: int
    more: bool
    total: int | None = None
    size: int = PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def pages(self) -> int | None:
        return None if self.total is None else max(1, -(-self.total // self.size))

    @property
    def first(self) -> int:
        """The number of the first row on this page (1-based)."""
        return self.offset + 1

    def url(self, page: int) -> str:
        """Return this page's address with the list at `page`, other arguments kept."""
        args: dict[str, Any] = dict(request.args.items())
        args[self.param] = page
        if page == 1:
            args.pop(self.param)
        return url_for(request.endpoint or "home.index", **(request.view_args or {}), **args)


def counted(param: str, page: int, total: int, size: int = PAGE_SIZE) -> Pager:
    """Return the pager of a list whose length is known."""
    return Pager(param, page, page * size < total, total, size)


def sliced(param: str, page: int, rows: list[Any],
           size: int = PAGE_SIZE) -> tuple[list[Any], Pager]:
    """Cut the extra row a query fetched (limit size + 1) and say whether a next page exists."""
    return rows[:size], Pager(param, page, len(rows) > size, None, size)
