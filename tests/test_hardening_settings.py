"""Settings that must not start quietly: Twilio with the demo database, unsigned webhooks."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from bot import create_app
from bot.core.config import ConfigError, load_config, retention_of
from tests.conftest import make_config


def test_twilio_with_the_default_database_needs_an_explicit_secret_key(
        services: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    services.config = load_config(None, environ={}, overrides={
        "sms__transport": "twilio", "safety__staff_phones": ["+12025550150"]})
    assert services.config.uses_demo_database is False
    with pytest.raises(ConfigError, match=r"\[web\] secret_key"):
        create_app(services=services)
    services.config = services.config.replace(web__secret_key="a-long-random-secret")
    app = create_app(services=services)
    assert app.config["SECRET_KEY"] == "a-long-random-secret"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_console_with_the_default_database_is_still_the_demo(services: Any) -> None:
    services.config = load_config(None, environ={})
    assert services.config.uses_demo_database is True
    assert create_app(services=services).config["SESSION_COOKIE_SECURE"] is False


def test_unsigned_twilio_webhooks_refuse_to_start(services: Any) -> None:
    services.config = make_config(services.config.database.url, sms__transport="twilio",
                                  safety__staff_phones=["+12025550150"],
                                  twilio__validate_signatures=False)
    with pytest.raises(ConfigError, match=r"\[twilio\] allow_unsigned"):
        create_app(services=services)


def test_allowed_unsigned_webhooks_warn_at_every_start(services: Any,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    services.config = make_config(services.config.database.url, sms__transport="twilio",
                                  safety__staff_phones=["+12025550150"],
                                  twilio__validate_signatures=False, twilio__allow_unsigned=True)
    with caplog.at_level(logging.WARNING, logger="bot"):
        create_app(services=services)
        create_app(services=services)
    warnings = [r for r in caplog.records if "validate_signatures = false" in r.getMessage()]
    assert len(warnings) == 2 and all(r.levelno == logging.WARNING for r in warnings)


def test_retention_reads_years_and_refuses_nonsense() -> None:
    assert retention_of(load_config(None, environ={})) == timedelta(days=730)
    config = load_config(None, environ={}, overrides={"data__retention": "90d"})
    assert retention_of(config) == timedelta(days=90)
    with pytest.raises(ConfigError, match=r"\[data\] retention"):
        load_config(None, environ={}, overrides={"data__retention": "forever"})
