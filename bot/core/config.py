"""Declare, load and validate PeerLine's settings.

Rules:
- Every setting is declared exactly once, in SETTINGS, with its type, default
  and help. `config.example.toml` must list the same keys with the same
  defaults (tests/test_config.py checks this).
- Sources, later wins: built-in defaults, the TOML file, then environment
  variables `PEERLINE_<SECTION>_<KEY>`.
- An unknown key or a bad value raises ConfigError naming the key and source;
  start-up stops there. So do settings that are wrong together: with the
  Twilio transport, `safety.staff_phones` must not be empty (crisis alerts
  must reach a human beside the coach).
- A config file that holds a secret must not be readable by other users.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.core.durations import QuietHours, is_zone, parse_duration, parse_quiet_hours
from bot.core.phones import PhoneError, to_e164


class ConfigError(Exception):
    """A setting is unknown or has a bad value."""


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string in quotes")
    return value


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError("expected a number above 0")
    return number


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    if isinstance(value, float) and not value.is_integer():  # 2.5, inf and nan
        raise ValueError("expected a whole number")
    number = int(value)
    if number < 0:
        raise ValueError("expected a whole number of 0 or more")
    return number


def _to_positive_int(value: Any) -> int:
    number = _to_int(value)
    if number < 1:
        raise ValueError("expected a whole number of 1 or more")
    return number


def _to_hour(value: Any) -> int:
    number = _to_int(value)
    if number > 23:
        raise ValueError("expected an hour from 0 to 23")
    return number


def _to_database_url(value: Any) -> str:
    text = _to_str(value)
    try:
        backend = make_url(text).get_backend_name()
    except ArgumentError:
        backend = ""
    if backend not in ("sqlite", "postgresql"):
        raise ValueError("expected sqlite:///path/file.db or "
                         "postgresql+psycopg://user:password@host/database")
    return text


def _to_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError('expected a list of strings, e.g. ["+15550100"]')
    return list(value)


def _to_timezone(value: Any) -> str:
    text = _to_str(value)
    if not is_zone(text):
        raise ValueError(f"unknown time zone {text!r}; use an IANA name like America/New_York")
    return text


def _to_base_url(value: Any) -> str:
    text = _to_str(value).strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment:
        raise ValueError("expected an http(s) URL like https://sms.example.org, or empty")
    return text.rstrip("/")


def _to_phones(value: Any) -> list[str]:
    phones = []
    for raw in _to_list(value):
        try:
            phones.append(to_e164(raw))
        except PhoneError as exc:
            raise ValueError(f"{exc}; use E.164 like +12025550100") from None
    return phones


def _to_quiet_hours(value: Any) -> QuietHours:
    return QuietHours.parse(_to_str(value))


def _to_optional_quiet_hours(value: Any) -> str:
    text = _to_str(value)
    if text.strip():
        parse_quiet_hours(text)
    return text


def _to_duration(value: Any) -> str:
    parse_duration(_to_str(value))
    return str(value)


_YEARS = re.compile(r"^\s*(\d{1,2})\s*y\s*$")


def _retention(text: str) -> timedelta:
    match = _YEARS.match(text)
    if match:
        days = 365 * int(match.group(1))
        if not 0 < days <= 3650:
            raise ValueError(f"retention {text!r}: write 1y to 10y, or days like 400d")
        return timedelta(days=days)
    try:
        return parse_duration(text)
    except ValueError:
        raise ValueError(f"bad retention {text!r}; write years or days: 2y, 400d") from None


def _to_retention(value: Any) -> str:
    if _retention(_to_str(value)) < timedelta(days=1):
        raise ValueError("keep message bodies at least 1d")
    return str(value)


def retention_of(config: Config) -> timedelta:
    """Return how long message bodies are kept (`[data] retention`)."""
    return _retention(str(config.data.retention))


def _choice(*options: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = _to_str(value)
        if text not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return text

    return convert


@dataclass(frozen=True)
class Setting:
    """One configuration key: where it lives, how to read it, what it does."""

    section: str
    key: str
    default: Any
    convert: Callable[[Any], Any]
    help: str
    secret: bool = False

    @property
    def env_name(self) -> str:
        return f"PEERLINE_{self.section}_{self.key}".upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("database", "url", "sqlite:///var/peerline.db", _to_database_url,
            "SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user:pw@host/db", secret=True),
    Setting("database", "spool_dir", "var/spool", _to_str,
            "folder (private to this node) for texts that arrive while the database is down"),
    Setting("sms", "transport", "console", _choice("console", "twilio"),
            '"console" prints and stores texts; "twilio" sends them'),
    Setting("twilio", "account_sid", "", _to_str, "Twilio Account SID (AC...)"),
    Setting("twilio", "auth_token", "", _to_str,
            "Twilio auth token; also signs and validates webhooks", secret=True),
    Setting("twilio", "from_number", "", _to_str, "E.164 sender number; or messaging_service_sid"),
    Setting("twilio", "messaging_service_sid", "", _to_str, "Messaging Service SID (MG...)"),
    Setting("twilio", "api_base_url", "", _to_base_url,
            "empty = Twilio; else e.g. http://127.0.0.1:4010 (a mock)"),
    Setting("twilio", "validate_signatures", True, _to_bool,
            "refuse webhooks without a valid X-Twilio-Signature"),
    Setting("twilio", "allow_unsigned", False, _to_bool,
            "must be true to start with validate_signatures = false and transport twilio "
            "(a warning is logged at every start)"),
    Setting("twilio", "public_url", "", _to_base_url,
            "base URL Twilio calls (for signatures behind a proxy)"),
    Setting("twilio", "max_messages_per_second", 1.0, _to_float, "sender-side rate limit"),
    Setting("twilio", "max_in_flight", 32, _to_positive_int,
            "sends in flight at once; rate x API latency, e.g. 100/s x 0.2 s = 20"),
    Setting("twilio", "max_attempts", 8, _to_positive_int,
            "tries before a send is marked failed"),
    Setting("flows", "dir", "flows", _to_str, "folder of flow YAML files"),
    Setting("flows", "versions_dir", "var/flow_versions", _to_str,
            "every flow version loaded is kept here, so runs finish on theirs after a restart"),
    Setting("program", "name", "PeerLine", _to_str, "program name used in texts"),
    Setting("program", "contact", "", _to_str,
            "how to reach program staff, said in HELP and unknown-number replies"),
    Setting("program", "timezone", "America/New_York", _to_timezone,
            "default time zone for participants without one"),
    Setting("program", "quiet_hours", "20:00-09:00", _to_quiet_hours,
            "participant local time; only replies and crisis alerts go out then"),
    Setting("program", "consent_version", "1", _to_str,
            "consent form version recorded at enrolment (participant add --consent-version)"),
    Setting("program", "nudge_max_lateness", "12h", _to_duration,
            "an approved nudge later than this is expired, not sent (flows may override)"),
    Setting("program", "length", "16w", _to_duration,
            "how long a veteran's program lasts from enrolment (staff may extend or end one); "
            "changing it does not move the ends of veterans already enrolled"),
    Setting("program", "care_team_contact", "call your VA primary care team (PACT) or send "
            "them a secure message on My HealtheVet", _to_str,
            "the concrete next step a hard-week reply names, e.g. a clinic number"),
    Setting("program", "hard_week_points", 2, _to_int,
            "a PEG item this many points above the veteran's baseline makes a hard week"),
    Setting("program", "hard_week_percent", 30, _to_int,
            "or this many percent above it (0 turns the percent rule off)"),
    Setting("program", "contact_every", "14d", _to_duration,
            "a veteran with no call, visit or text from their coach this long is 'contact due'"),
    Setting("program", "coach_quiet_hours", "", _to_optional_quiet_hours,
            "coach local time; non-urgent texts to coaches wait for its end (empty = quiet_hours)"),
    Setting("safety", "staff_phones", [], _to_phones,
            "E.164 numbers texted with every crisis alert, beside the coach"),
    Setting("safety", "staff_after", "2h", _to_duration,
            "escalations no coach acknowledged by then are texted to staff_phones"),
    Setting("web", "secret_key", "", _to_str,
            "signs sessions; required unless the demo database is in use (never with twilio)",
            secret=True),
    Setting("web", "secure_cookies", True, _to_bool,
            "send session cookies only over HTTPS (set false for plain-HTTP local use)"),
    Setting("web", "proxy_hops", 0, _to_int,
            "proxies in front that add X-Forwarded-For (nginx: 1), so login limits see "
            "the visitor"),
    Setting("scheduler", "interval_seconds", 30, _to_positive_int,
            "how often each periodic job runs"),
    Setting("scheduler", "lease_seconds", 120, _to_positive_int,
            "a claimed outbox row whose sender went silent this long is reclaimed"),
    Setting("scheduler", "digest_hour", 8, _to_hour, "coach's local hour for the daily digest"),
    Setting("data", "retention", "2y", _to_retention,
            "message bodies older than this are blanked by `peerline purge` and a daily job "
            "(scores, timings and counts are kept): 2y, 400d"),
    Setting("logging", "level", "INFO", _choice("DEBUG", "INFO", "WARNING", "ERROR"),
            "log level"),
    Setting("logging", "json", False, _to_bool, "write one JSON object per log line"),
)

DEFAULT_DATABASE_URL = "sqlite:///var/peerline.db"
_BY_NAME = {(s.section, s.key): s for s in SETTINGS}
_SECTIONS = sorted({s.section for s in SETTINGS})


class Config:
    """Validated settings; read them as `config.section.key`."""

    def __init__(self, values: Mapping[tuple[str, str], Any], source: str = "defaults"):
        self._values = dict(values)
        self.source = source
        for section in _SECTIONS:
            items = {key: val for (sec, key), val in self._values.items() if sec == section}
            setattr(self, section, SimpleNamespace(**items))

    def __getattr__(self, name: str) -> Any:  # for mypy: sections are dynamic
        raise AttributeError(name)

    def get(self, section: str, key: str) -> Any:
        return self._values[(section, key)]

    def replace(self, **overrides: Any) -> Config:
        """Return a copy with `section__key=value` overrides applied and validated."""
        values = dict(self._values)
        for name, raw in overrides.items():
            section, _, key = name.partition("__")
            values[(section, key)] = _convert(section, key, raw, "override")
        return Config(values, self.source)

    @property
    def uses_demo_database(self) -> bool:
        """Tell whether this is the local demo: default database, texts on the console.

        With the Twilio transport the default database is a real deployment, so it
        gets no generated key and no relaxed cookie.
        """
        return bool(self.database.url == DEFAULT_DATABASE_URL
                    and self.sms.transport != "twilio")


def _convert(section: str, key: str, raw: Any, where: str) -> Any:
    setting = _BY_NAME.get((section, key))
    if setting is None:
        known = ", ".join(s.key for s in SETTINGS if s.section == section)
        hint = f" (known keys in [{section}]: {known})" if known else ""
        raise ConfigError(f"{where}: unknown setting [{section}] {key}{hint}")
    try:
        return setting.convert(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: bad value for [{section}] {key}: {exc}") from None


def _check_permissions(path: Path, data: Mapping[str, Any]) -> None:
    def holds(setting: Setting) -> bool:
        table = data.get(setting.section)
        value = table.get(setting.key) if isinstance(table, dict) else None
        if setting.key == "url":  # a database URL is a secret only when it carries a password
            return bool(value) and re.search(r"://[^/@]*:[^/@]+@", str(value)) is not None
        return bool(value)

    holds_secret = any(holds(s) for s in SETTINGS if s.secret)
    if holds_secret and path.stat().st_mode & stat.S_IROTH:
        raise ConfigError(
            f"{path}: holds a secret but is readable by every user; run: chmod o-r {path}"
        )


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the config file to read: --config, $PEERLINE_CONFIG, ./config.toml, or none."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("PEERLINE_CONFIG")
    if env:
        return Path(env)
    local = Path("config.toml")
    return local if local.exists() else None


def load_config(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load defaults, then the TOML file, then env overrides; raise ConfigError on problems."""
    environ = os.environ if environ is None else environ
    values = {(s.section, s.key): s.default for s in SETTINGS}
    found = find_config_path(path)
    source = "defaults"
    if found is not None:
        if not found.exists():
            raise ConfigError(f"{found}: config file not found")
        try:
            data = tomllib.loads(found.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{found}: not UTF-8 text (byte {exc.start + 1}); save it as UTF-8"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"{found}: cannot read the config file ({exc.strerror}); check the path and "
                f"that PeerLine's user may read it"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{found}: not valid TOML: {exc}") from None
        for section, table in data.items():
            if section not in _SECTIONS:
                raise ConfigError(
                    f"{found}: unknown section [{section}] (known: {', '.join(_SECTIONS)})"
                )
            if not isinstance(table, dict):
                raise ConfigError(f"{found}: [{section}] must be a table")
            for key, raw in table.items():
                values[(section, key)] = _convert(section, key, raw, str(found))
        _check_permissions(found, data)
        source = str(found)
    for name, raw in environ.items():
        if not name.startswith("PEERLINE_") or name == "PEERLINE_CONFIG":
            continue
        rest = name[len("PEERLINE_"):].lower()
        env_section = next((s for s in _SECTIONS if rest.startswith(s + "_")), None)
        if env_section is None:
            continue  # e.g. PEERLINE_TEST_POSTGRES_URL belongs to the test suite
        key = rest[len(env_section) + 1:]
        values[(env_section, key)] = _convert(env_section, key, raw, f"environment {name}")
    for name, raw in (overrides or {}).items():
        section, _, key = name.partition("__")
        values[(section, key)] = _convert(section, key, raw, "override")
    _check_rules(values, source)
    return Config(values, source)


def _check_rules(values: Mapping[tuple[str, str], Any], source: str) -> None:
    """Refuse settings that are valid alone but not together."""
    if values[("sms", "transport")] == "twilio" and not values[("safety", "staff_phones")]:
        raise ConfigError(
            f"{source}: [safety] staff_phones is empty but [sms] transport is \"twilio\"; "
            'list the numbers texted with every crisis alert, e.g. staff_phones = '
            '["+12025550100"] (or PEERLINE_SAFETY_STAFF_PHONES)')
