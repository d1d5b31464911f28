"""Settings: declared once, documented in config.example.toml, errors name the key."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from datetime import time, timedelta
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest

from bot.core.config import SETTINGS, ConfigError, load_config
from bot.core.settings import SECTIONS

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"


def test_example_lists_every_setting_with_its_default():
    data = tomllib.loads(EXAMPLE.read_text())
    example = {(section, key): value for section, table in data.items()
               for key, value in table.items()}
    declared = {(s.section, s.key): s.default for s in SETTINGS}
    assert example == declared


def test_example_documents_every_key_with_a_comment():
    for line in EXAMPLE.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            assert "#" in line, f"undocumented key: {line}"


def test_example_loads_as_a_config_file():
    config = load_config(EXAMPLE, environ={})
    assert str(config.program.quiet_hours) == "20:00-09:00"
    # parsed once at load: a value with its times, not a string every caller parses again
    assert (config.program.quiet_hours.start, config.program.quiet_hours.end) == (
        time(20, 0), time(9, 0))


def test_defaults_without_any_file():
    config = load_config(None, environ={})
    assert config.database.url == "sqlite:///var/peerline.db"
    assert config.sms.transport == "console"
    assert config.twilio.validate_signatures is True


def test_environment_overrides_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[program]\nname = "From file"\n')
    env = {"PEERLINE_PROGRAM_NAME": "From env", "PEERLINE_TWILIO_VALIDATE_SIGNATURES": "false",
           "PEERLINE_TWILIO_MAX_MESSAGES_PER_SECOND": "10",
           "PEERLINE_SAFETY_STAFF_PHONES": "+12025550111,+12025550112"}
    config = load_config(path, environ=env)
    assert config.program.name == "From env"
    assert config.twilio.validate_signatures is False
    assert config.twilio.max_messages_per_second == 10.0
    assert config.safety.staff_phones == ("+12025550111", "+12025550112")


def test_config_path_from_environment(tmp_path, monkeypatch):
    path = tmp_path / "env.toml"
    path.write_text('[program]\nname = "Env file"\n')
    monkeypatch.setenv("PEERLINE_CONFIG", str(path))
    assert load_config(None).program.name == "Env file"


@pytest.mark.parametrize(
    ("content", "env", "needle"),
    [
        ('[program]\nnmae = "x"\n', {}, "unknown setting [program] nmae"),
        ('[programme]\nname = "x"\n', {}, "unknown section [programme]"),
        ('[program]\ntimezone = "Mars/Olympus"\n', {}, "[program] timezone"),
        ('[program]\nquiet_hours = "8pm to 9am"\n', {}, "[program] quiet_hours"),
        ('[sms]\ntransport = "pigeon"\n', {}, "[sms] transport"),
        ('[twilio]\nmax_messages_per_second = -1\n', {}, "[twilio] max_messages_per_second"),
        ('[twilio]\nvalidate_signatures = "maybe"\n', {}, "[twilio] validate_signatures"),
        ("[program\n", {}, "not valid TOML"),
        ("", {"PEERLINE_TWILIO_VALIDATE_SIGNATURES": "perhaps"}, "PEERLINE_TWILIO_VALIDATE"),
        ("", {"PEERLINE_TWILIO_AUTHTOKEN": "x"}, "unknown setting [twilio] authtoken"),
        ('[twilio]\npublic_url = "sms.example.org"\n', {}, "[twilio] public_url"),
        ('[twilio]\npublic_url = "https://x.org/?a=1"\n', {}, "[twilio] public_url"),
        ('[twilio]\napi_base_url = "127.0.0.1:4010"\n', {}, "[twilio] api_base_url"),
        ('[safety]\nstaff_phones = ["+1555"]\n', {}, "[safety] staff_phones"),
        ("", {"PEERLINE_SAFETY_STAFF_PHONES": "+12025550111,call me"}, "STAFF_PHONES"),
    ],
)
def test_bad_settings_name_the_key(tmp_path, content, env, needle):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=env)
    assert needle in str(info.value)


def test_urls_and_staff_phones_are_normalised(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text('[twilio]\npublic_url = "https://sms.example.org/peerline/"\n'
                    'api_base_url = "http://127.0.0.1:4010"\n'
                    '[safety]\nstaff_phones = ["(202) 555-0111", "+1 202 555 0112"]\n')
    config = load_config(path, environ={})
    assert config.twilio.public_url == "https://sms.example.org/peerline"
    assert config.twilio.api_base_url == "http://127.0.0.1:4010"
    assert config.safety.staff_phones == ("+12025550111", "+12025550112")


def test_world_readable_file_with_secret_is_refused(tmp_path):
    path = tmp_path / "secret.toml"
    path.write_text('[twilio]\nauth_token = "abc"\n')
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod o-r"):
        load_config(path, environ={})
    os.chmod(path, 0o600)
    assert load_config(path, environ={}).twilio.auth_token == "abc"


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", environ={})


@pytest.mark.parametrize(
    ("content", "env", "needle"),
    [
        ("[twilio]\nmax_in_flight = inf\n", {}, "[twilio] max_in_flight"),
        ("[twilio]\nmax_attempts = 2.5\n", {}, "[twilio] max_attempts"),
        ("[twilio]\nmax_messages_per_second = nan\n", {}, "[twilio] max_messages_per_second"),
        ("[twilio]\nmax_messages_per_second = inf\n", {}, "[twilio] max_messages_per_second"),
        ("", {"PEERLINE_TWILIO_MAX_MESSAGES_PER_SECOND": "nan"}, "MAX_MESSAGES_PER_SECOND"),
        ("[scheduler]\ndigest_hour = 24\n", {}, "[scheduler] digest_hour"),
        ('[database]\nurl = "peerline.db"\n', {}, "[database] url"),
        ('[database]\nurl = "mysql://db/peerline"\n', {}, "[database] url"),
        ("[scheduler]\nlease_seconds = 0\n", {}, "[scheduler] lease_seconds"),
        ("[scheduler]\ninterval_seconds = 0\n", {}, "[scheduler] interval_seconds"),
        ("[twilio]\nmax_attempts = 0\n", {}, "[twilio] max_attempts"),
    ],
)
def test_values_that_would_crash_or_do_nothing_later_are_refused(tmp_path, content, env,
                                                                 needle):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=env)
    assert needle in str(info.value)


def test_a_file_that_cannot_be_read_as_text_is_a_config_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[program]\nname = "Programme de la Sant\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path, environ={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path, environ={})


def _is(value: object, kind: Any) -> bool:
    """Tell whether `value` is of the annotated type `kind` (unions, tuple[str, ...])."""
    if get_origin(kind) in (Union, UnionType):
        return any(_is(value, arm) for arm in get_args(kind))
    if get_origin(kind) is tuple:
        return isinstance(value, tuple) and all(_is(v, get_args(kind)[0]) for v in value)
    return isinstance(value, type(None) if kind is None else kind)


def test_every_section_is_typed_and_frozen_and_each_key_has_its_declared_type(tmp_path):
    path = tmp_path / "set.toml"
    path.write_text('[program]\ncoach_quiet_hours = "21:00-08:00"\n'
                    '[safety]\nstaff_phones = ["+12025550111"]\n')
    for config in (load_config(None, environ={}), load_config(path, environ={})):
        for name, section in SECTIONS.items():
            hints = get_type_hints(section)
            values = getattr(config, name)
            assert isinstance(values, section)
            for setting in (s for s in SETTINGS if s.section == name):
                value = getattr(values, setting.key)
                assert _is(value, hints[setting.key]), (name, setting.key, value)
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(values, next(iter(hints)), None)


def test_durations_and_quiet_hours_are_parsed_once_and_keep_their_text(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[program]\ncontact_every = "7d"\ncoach_quiet_hours = "21:00-08:00"\n'
                    '[data]\nretention = "3y"\n')
    config = load_config(path, environ={"PEERLINE_SAFETY_STAFF_AFTER": "90m"})
    assert (config.program.contact_every.delta, str(config.program.contact_every)) == (
        timedelta(days=7), "7d")
    assert config.safety.staff_after.delta == timedelta(minutes=90)
    assert config.data.retention.delta == timedelta(days=3 * 365)
    coach = config.program.coach_quiet_hours
    assert coach is not None and (coach.start, coach.end) == (time(21, 0), time(8, 0))
    assert load_config(None, environ={}).program.coach_quiet_hours is None
    changed = config.replace(program__quiet_hours="22:00-07:00")
    assert changed.program.quiet_hours.start == time(22, 0)
    assert str(config.program.quiet_hours) == "20:00-09:00"  # the original is unchanged


def test_the_operators_page_lists_every_key_and_its_variable():
    page = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    for setting in SETTINGS:
        assert f"| `[{setting.section}] {setting.key}` |" in page, setting.key
        assert f"`{setting.env_name}`" in page, setting.env_name
