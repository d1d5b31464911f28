"""The coach and staff dashboard: server-rendered pages under the same Flask app.

Rules:
- Every view checks on the server who may see or act (bot/dashboard/common.py).
- Every POST carries a CSRF token (Flask-WTF), checked by each blueprint.
- Times are shown in the viewer's zone; a veteran's local time where it matters.
"""

from __future__ import annotations

from flask import Flask

from bot.dashboard import (
    auth,
    coach,
    common,
    connection,
    errors,
    fidelity,
    program,
    staff,
    veterans,
    withdrawal,
)
from bot.dashboard import escalations as escalation_pages


def init_app(app: Flask) -> None:
    """Register the dashboard blueprints, CSRF protection and template helpers."""

    # Only the dashboard's own blueprints check tokens: Twilio's webhooks cannot send one.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life
    common.csrf.init_app(app)
    common.init_app(app)
    errors.init_app(app)
    for module in (auth, coach, veterans, program, escalation_pages, staff, fidelity, withdrawal,
                   connection):
        module.init_app(app)
