"""The Twilio transport: send one SMS through Twilio's REST API (or a mock of it).

Rules:
- The twilio `Client` is built in `from_config()`, never at import.
- `twilio.api_base_url`, when set, replaces https://api.twilio.com in every
  request (Prism or tests/fake_twilio.py in tests, a mock in demos).
- `status_callback` is `twilio.public_url` + "/sms/status" when public_url is set;
  the outbox sender passes its own, with `?m=<message id>` (bot/web/status.py).
- Failures become `bot.sms.SendError`: 21610 (recipient opted out) and other
  4xx are final; 429, 5xx and network errors are retryable. Error texts are
  redacted: Twilio's messages can quote the phone number.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.core.config import Config, ConfigError
from bot.core.logs import redact
from bot.core.phones import mask
from bot.sms import SendError, SendResult

log = logging.getLogger(__name__)
TWILIO_API = "https://api.twilio.com"
OPTED_OUT = 21610
DEFAULT_TIMEOUT = 15.0


class BaseUrlHttpClient(TwilioHttpClient):
    """A TwilioHttpClient that sends requests for api.twilio.com to another base URL."""

    def __init__(self, base_url: str = "", pool_size: int = 10, **kwargs: Any):
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        kwargs.setdefault("logger", logging.getLogger("bot.sms.twilio.http"))
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        if self.session is not None:  # keep one pooled connection per send in flight
            adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=pool_size)
            self.session.mount("https://", adapter)
            self.session.mount("http://", adapter)

    def rewrite(self, url: str) -> str:
        """Return `url` with https://api.twilio.com replaced by the base URL (if one is set)."""
        if self.base_url and (url == TWILIO_API or url.startswith(TWILIO_API + "/")):
            return self.base_url + url[len(TWILIO_API):]
        return url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        """Send the request to the rewritten URL."""
        return super().request(method, self.rewrite(url), *args, **kwargs)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def to_send_error(exc: BaseException) -> SendError:
    """Map a twilio or network exception to a SendError that says whether to retry."""
    if isinstance(exc, TwilioRestException):
        status = _int(exc.status)
        code = _int(exc.code)
        text = redact(str(exc.msg))[:300]
    elif isinstance(exc, TwilioException) and hasattr(exc, "status"):  # RFC 9457 errors
        status = _int(getattr(exc, "status", None))
        code = _int(getattr(exc, "code", None))
        text = redact(str(getattr(exc, "title", "") or type(exc).__name__))[:300]
    elif isinstance(exc, requests.RequestException | OSError):
        return SendError(f"network error: {type(exc).__name__}", retryable=True)
    else:
        return SendError(f"unexpected error: {type(exc).__name__}", retryable=True)
    if code == status:
        code = None  # twilio-python uses the HTTP status when the body had no code
    if code == OPTED_OUT:
        retryable = False
    elif status is None:
        retryable = True
    else:
        retryable = status == 429 or status >= 500
    label = f"Twilio {status}" + (f" error {code}" if code else "")
    return SendError(f"{label}: {text}", code=code, http_status=status, retryable=retryable)


class TwilioSender:
    """Send texts with the twilio library from one number or a messaging service."""

    def __init__(self, client: Client, *, from_number: str = "", messaging_service_sid: str = "",
                 status_callback: str | None = None):
        if not from_number and not messaging_service_sid:
            raise ConfigError("[twilio] from_number or messaging_service_sid must be set")
        self.client = client
        # The twilio library imports its Messages API on first use (~80 ms, holding the GIL
        # and the import lock): done here, it delays start-up, not the first crisis alert,
        # and does not stall the other sending threads mid-send.
        _ = client.messages
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback

    @classmethod
    def from_config(cls, config: Config, **http_kwargs: Any) -> TwilioSender:
        """Build the sender and its twilio Client from `[twilio]` settings."""
        twilio = config.twilio
        for key in ("account_sid", "auth_token"):
            if not getattr(twilio, key):
                raise ConfigError(f"[twilio] {key} must be set when [sms] transport = \"twilio\"")
        http_kwargs.setdefault("pool_size", max(10, int(twilio.max_in_flight)))
        http_client = BaseUrlHttpClient(twilio.api_base_url, **http_kwargs)
        # TWILIO_EDGE/TWILIO_REGION in the environment would move requests to another host
        # (past api_base_url); an empty `environment` falls back to os.environ, so name them.
        client = Client(twilio.account_sid, twilio.auth_token, http_client=http_client,
                        environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""})
        public = str(twilio.public_url or "").rstrip("/")
        return cls(client, from_number=twilio.from_number,
                   messaging_service_sid=twilio.messaging_service_sid,
                   status_callback=f"{public}/sms/status" if public else None)

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> SendResult:
        """Send one SMS; raise SendError when Twilio or the network refuses it."""
        kwargs: dict[str, Any] = {"to": to, "body": body}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = self.from_number
        callback = status_callback or self.status_callback
        if callback:
            kwargs["status_callback"] = callback
        try:
            message = self.client.messages.create(**kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a SendError
            error = to_send_error(exc)
            log.warning("send to %s failed: %s (retryable=%s)", mask(to), error, error.retryable)
            raise error from exc
        segments = _int(message.num_segments)
        log.info("sent to %s: sid %s, %s segment(s)", mask(to), message.sid, segments)
        return SendResult(sid=message.sid, status=str(message.status or "queued"),
                          segments=segments)
