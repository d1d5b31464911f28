"""The baseline: a bare Flask app answering static TwiML on the same route."""

from __future__ import annotations

from flask import Flask, Response

TWIML = ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
         "Thanks, Sam. Your coach will see your message.</Message></Response>")


def create_app() -> Flask:
    """Return a Flask app whose /sms/inbound answers a fixed TwiML reply."""
    app = Flask(__name__)

    @app.post("/sms/inbound")
    def inbound() -> Response:
        return Response(TWIML, mimetype="application/xml")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("{}", mimetype="application/json")

    return app
