"""App-wide error pages: a styled 404 for any unknown address, a calm 500 that hides the cause.

Rules: the blueprints style the errors their own views raise (common.py);
these catch what no blueprint sees (an address no route matches, a crash).
A 500 page never shows the exception (it may hold a veteran's words); it is
logged once, with its traceback, by Flask. If even the styled page cannot
render (e.g. the template breaks), a plain page with the same words is sent.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, render_template
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, NotFound

log = logging.getLogger(__name__)

PAGES = {
    404: ("Not found", "That page does not exist, or it is not one of yours. Check the "
                       "address, or start again from the home page."),
    405: ("Not allowed", "That address cannot be used this way. Start again from the home "
                         "page."),
    500: ("Something went wrong", "PeerLine could not finish that. Nothing you did caused it, "
                                  "and it has been logged. Go back and try again; if it keeps "
                                  "happening, tell the program staff what you were doing."),
}


def error_response(code: int) -> Response:
    """Render the styled page for `code`, or a plain one if the template cannot render."""
    title, message = PAGES[code]
    try:
        body = render_template("error.html", code=code, title=title, message=message)
    except Exception:  # noqa: BLE001 - the error page must not fail in turn
        log.exception("the %s page could not be rendered", code)
        body = (f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{message}</p>"
                '<p><a href="/">Go to the home page</a></p>')
    return Response(body, status=code, mimetype="text/html")


def _http(exc: HTTPException) -> Response | HTTPException:
    code = exc.code or 500
    return error_response(code) if code in PAGES else exc


def _crash(_exc: InternalServerError) -> Response:
    return error_response(500)


def init_app(app: Flask) -> None:
    """Register the app-wide 404, 405 and 500 pages."""
    app.register_error_handler(NotFound, _http)
    app.register_error_handler(MethodNotAllowed, _http)
    app.register_error_handler(InternalServerError, _crash)
