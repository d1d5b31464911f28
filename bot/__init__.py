"""PeerLine: the Flask application factory (`gunicorn 'bot:create_app()'`)."""

from __future__ import annotations

import gc
import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from bot import dashboard
from bot.core.clock import Clock
from bot.core.config import Config, ConfigError, load_config
from bot.core.files import private_file
from bot.core.logs import setup_logging
from bot.services import Services, build_services
from bot.sms import SmsSender
from bot.web import health, metrics, webhook

log = logging.getLogger(__name__)


def _secret_key(config: Config) -> str:
    if config.web.secret_key:
        return str(config.web.secret_key)
    if not config.uses_demo_database:
        twilio = " (the twilio transport never uses the demo's generated key)" \
            if config.sms.transport == "twilio" else ""
        raise ConfigError(
            "[web] secret_key is empty; set it (or PEERLINE_WEB_SECRET_KEY) to a long random "
            f"string{twilio}"
        )
    path = Path("var/secret_key")
    if not path.exists():
        private_file(path).write_text(secrets.token_hex(32))
    return path.read_text().strip()


def _check_signatures(config: Config) -> None:
    """Refuse unsigned Twilio webhooks unless allowed on purpose; warn at every start then."""
    if config.sms.transport != "twilio" or config.twilio.validate_signatures:
        return
    if not config.twilio.allow_unsigned:
        raise ConfigError(
            "[twilio] validate_signatures = false with transport twilio lets anyone post texts "
            "as any number; set it true, or set [twilio] allow_unsigned = true to accept that")
    log.warning("[twilio] validate_signatures = false: webhooks are not checked, anyone can "
                "post texts as any number (allowed by [twilio] allow_unsigned)")


def create_app(
    config_path: str | None = None,
    test_config: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    clock: Clock | None = None,
    sender: SmsSender | None = None,
    services: Services | None = None,
) -> Flask:
    """Build the web app: config, database, clock, sender, blueprints. Nothing is sent here."""
    services_built_here = services is None
    if services is None:
        overrides = {
            f"{section}__{key}": value
            for section, table in (test_config or {}).items()
            for key, value in table.items()
        }
        config = load_config(config_path, overrides=overrides)
        setup_logging(config.logging.level, config.logging.json)
        services = build_services(config, clock=clock, sender=sender)
    config = services.config
    _check_signatures(config)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(config),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # The demo runs on plain http://127.0.0.1, where a Secure cookie would be dropped.
        SESSION_COOKIE_SECURE=bool(config.web.secure_cookies) and not config.uses_demo_database,
        MAX_CONTENT_LENGTH=256 * 1024,
        # Flask's default is 31 days; a dashboard sign-in lasts one working day.
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    app.extensions["peerline"] = services
    if config.web.proxy_hops > 0:  # the visitor's address from X-Forwarded-For, for login limits

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.web.proxy_hops,  # type: ignore[method-assign]
                                x_proto=0, x_host=0, x_port=0, x_prefix=0)


    webhook.init_app(app)
    health.init_app(app)
    metrics.init_app(app)
    dashboard.init_app(app)
    if services_built_here and not test_config:
        freeze_startup_objects()
    return app


def freeze_startup_objects() -> None:
    """Move what start-up built out of the cyclic GC's sight (a server process's app).

    The safety screen's tables alone are ~200,000 objects: every full collection
    walked them, ~77 ms (docs/performance.md), inside whichever request set it
    off. They live as long as the process, so the collector gains nothing by
    looking; start-up garbage is collected first. Apps that tests build with
    their own services or test_config are left alone (many apps in one process).
    """
    gc.collect()
    gc.freeze()


def get_services(app: Flask) -> Services:
    """Return the Services that create_app() attached to `app`."""
    return app.extensions["peerline"]
