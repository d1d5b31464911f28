"""The staff download of a research export: a streamed CSV response.

Rules (issue 15):
- The CSV is produced while it is sent (a generator under `stream_with_context`),
  read in one reading transaction, so a download of any size takes flat memory
  and never holds SQLite's write lock: the webhook stores texts meanwhile.
- The audit row is written when the stream ends, in its own short writing
  transaction; a download cut short is recorded with `complete: false` in its detail.
- A long download needs a server that lets a response run past its request
  timeout: gunicorn's gthread workers (docs/deploy.md), nginx without buffering
  (the X-Accel-Buffering header).
"""

from __future__ import annotations

from flask import Response, request, stream_with_context
from sqlalchemy.orm import Session

from bot.dashboard.common import audit, now, services
from bot.domain.export import ExportOptions, audit_detail, stream, text_variables


def download(kind: str) -> Response:
    """Return export `kind` as a streamed CSV attachment (the caller checked the kind)."""
    free_text = request.form.get("include_free_text") == "1"
    flows = services().flows
    options = ExportOptions(include_free_text=free_text,
                            text_variables=text_variables(flows.flows() if flows else []),
                            config=services().config, now=now())

    def record(db: Session, rows: int, complete: bool) -> None:
        audit(db, "export", "export", None, kind=kind,
              **audit_detail(rows, free_text, complete))

    stamp = now().strftime("%Y%m%d-%H%M")
    chunks = stream_with_context(stream(services().db, kind, options, record))
    return Response(chunks, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="peerline-{kind}-{stamp}.csv"',
        "X-Accel-Buffering": "no"})  # nginx passes the stream on instead of spooling it
