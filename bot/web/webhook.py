"""Twilio webhooks: POST /sms/inbound and POST /sms/status.

Rules:
- A request whose X-Twilio-Signature does not validate gets 403 and nothing
  is stored (unless `twilio.validate_signatures = false`).
- The signed URL is `twilio.public_url` + path when set (TLS proxies), else
  the URL Flask saw or the one a proxy's X-Forwarded-Proto/Host describe.
- No request body, however odd, produces a 5xx: bad input is a 400 or an
  empty TwiML answer. The one 503: a text with no crisis or concern words
  that neither the database nor the spool could keep (bot/spool.py).
- The text is screened from memory first (bot/screen.py); the database is
  touched only after that, with short waits (bot/db.py), so a locked, slow or
  unreachable database never delays the crisis reply past a few seconds.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, abort, current_app, request
from twilio.request_validator import RequestValidator

from bot.core.ids import parse_id
from bot.inbound.pipeline import handle_inbound
from bot.inbound.screen import screen_inbound
from bot.inbound.store import InboundSms, clean_sid
from bot.web.status import apply_status

log = logging.getLogger(__name__)
bp = Blueprint("sms", __name__, url_prefix="/sms")


def _signed_urls() -> list[str]:
    """Return the URLs Twilio may have signed: public_url when set, else what the app saw.

    Without public_url, a TLS proxy's X-Forwarded-Proto/Host give a second candidate.
    Trusting them is safe here: a match still needs Twilio's HMAC for that exact URL.
    """
    query = request.query_string.decode("latin-1")
    suffix = request.path + (f"?{query}" if query else "")
    public = current_app.extensions["peerline"].config.twilio.public_url
    if public:
        return [public.rstrip("/") + suffix]
    urls = [request.url]
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip() or request.host
    if proto in ("http", "https"):
        urls.append(f"{proto}://{host}{request.root_path}{suffix}")
    return urls


def _check_signature() -> None:
    twilio = current_app.extensions["peerline"].config.twilio
    if not twilio.validate_signatures:
        return
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not twilio.auth_token:
        log.warning("refused %s: no signature or no auth token configured", request.path)
        abort(403)
    validator = RequestValidator(twilio.auth_token)
    # The MultiDict itself: RequestValidator reads repeated parameters with getlist().
    if not any(validator.validate(url, request.form, signature) for url in _signed_urls()):
        log.warning("refused %s: bad signature", request.path)
        abort(403)


@bp.post("/inbound")
def inbound() -> Response:
    """Store, dedupe and answer one inbound SMS."""
    _check_signature()
    form = request.form
    sms = InboundSms.from_form(form)
    if sms is None:
        log.warning("inbound without From or MessageSid refused")
        abort(400)
    services = current_app.extensions["peerline"]
    verdict = screen_inbound(services, sms.phone, sms.body, services.clock.now())
    xml = handle_inbound(services, sms, verdict)
    if xml is None:
        return Response("", status=503)
    return Response(xml, mimetype="application/xml")


@bp.post("/status")
def status() -> Response:
    """Record a delivery status callback; never move a status backwards."""
    _check_signature()
    sid = clean_sid(request.form.get("MessageSid") or request.form.get("SmsSid"))
    new_status = request.form.get("MessageStatus") or request.form.get("SmsStatus")
    if not sid or not new_status:
        abort(400)
    code = request.form.get("ErrorCode")
    services = current_app.extensions["peerline"]
    ours = request.args.get("m", "")  # our message id, in the callback URL the sender gave
    message_id = parse_id(ours)
    apply_status(services, sid, new_status.strip().lower(), code, message_id)
    return Response("", status=204)


def init_app(app: Flask) -> None:
    """Register the webhook blueprint."""
    app.register_blueprint(bp)
