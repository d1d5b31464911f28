"""Secrets come from the environment or from a config file only other users cannot read."""

from __future__ import annotations

import os

import pytest

from bot.core.config import ConfigError, load_config

PG_WITH_PASSWORD = "postgresql+psycopg://peerline:s3cret@db.internal:5432/peerline"


def _write(tmp_path, text: str, mode: int):
    path = tmp_path / "peerline.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("text", [
    f'[database]\nurl = "{PG_WITH_PASSWORD}"\n',
    '[twilio]\nauth_token = "abc123"\n',
    '[web]\nsecret_key = "k"\n',
])
def test_world_readable_file_with_any_secret_is_refused(tmp_path, text):
    path = _write(tmp_path, text, 0o644)
    with pytest.raises(ConfigError, match="readable by every user"):
        load_config(path, environ={})
    os.chmod(path, 0o640)
    assert load_config(path, environ={}).source == str(path)


@pytest.mark.parametrize("url", ["sqlite:///var/peerline.db",
                                 "postgresql+psycopg://peerline@/peerline?host=/run/postgresql"])
def test_database_url_without_password_may_be_world_readable(tmp_path, url):
    path = _write(tmp_path, f'[database]\nurl = "{url}"\n', 0o644)
    assert load_config(path, environ={}).database.url == url


def test_secrets_from_the_environment_need_no_file(tmp_path):
    config = load_config(None, environ={"PEERLINE_TWILIO_AUTH_TOKEN": "from-env",
                                        "PEERLINE_DATABASE_URL": PG_WITH_PASSWORD,
                                        "PEERLINE_WEB_SECRET_KEY": "env-key"})
    assert config.twilio.auth_token == "from-env"
    assert config.database.url == PG_WITH_PASSWORD
    assert config.web.secret_key == "env-key"


def test_the_refusal_does_not_print_the_secret(tmp_path):
    path = _write(tmp_path, '[twilio]\nauth_token = "tok-abcdef-987"\n', 0o604)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert "tok-abcdef-987" not in str(info.value)
