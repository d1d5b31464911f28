"""Declare every setting once: its section, key, type, default, converter and help.

Rules:
- Each `[section]` is a class below under `@_section("name")`, which makes it
  a frozen dataclass and lists it in SECTIONS (so the name is written once).
  Each of its fields is one key, declared with `_key(default, converter,
  help)`. The field's type is what the converter returns (mypy checks it), so
  `config.program.quiet_hours` is a parsed `QuietHours` and
  `config.safety.staff_after` a `Duration`, never text a caller parses again.
- SETTINGS (section, key, TOML default, converter, help) is generated from these
  classes; `bot/core/config.py` loads and validates with it.
  `config.example.toml` must list the same keys and defaults, and
  docs/configuration.md the same keys and variables (tests/test_config.py).
- A converter takes the raw TOML or environment value and returns the typed
  value or raises ValueError with the fix; config.py names the key and source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any, TypeVar, cast, dataclass_transform
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.core.durations import Duration, QuietHours, is_zone, parse_duration
from bot.core.phones import PhoneError, to_e164

T = TypeVar("T")
S = TypeVar("S")


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


def _to_phones(value: Any) -> tuple[str, ...]:
    phones = []
    for raw in _to_list(value):
        try:
            phones.append(to_e164(raw))
        except PhoneError as exc:
            raise ValueError(f"{exc}; use E.164 like +12025550100") from None
    return tuple(phones)


def _to_quiet_hours(value: Any) -> QuietHours:
    return QuietHours.parse(_to_str(value))


def _to_optional_quiet_hours(value: Any) -> QuietHours | None:
    text = _to_str(value)
    return QuietHours.parse(text) if text.strip() else None


def _to_duration(value: Any) -> Duration:
    return Duration.parse(_to_str(value))


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


def _to_retention(value: Any) -> Duration:
    text = _to_str(value)
    delta = _retention(text)
    if delta < timedelta(days=1):
        raise ValueError("keep message bodies at least 1d")
    return Duration(delta, text.strip())


def _choice(*options: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = _to_str(value)
        if text not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return text

    return convert


def _key(default: Any, convert: Callable[[Any], T], help: str, *, secret: bool = False) -> T:
    """Declare one key: its TOML default, the converter that types it, its help line."""
    return cast(T, field(metadata={"default": default, "convert": convert, "help": help,
                                   "secret": secret}))


SECTIONS: dict[str, type] = {}


@dataclass_transform(frozen_default=True)
def _section(name: str) -> Callable[[type[S]], type[S]]:
    """Make the class below the frozen dataclass of `[name]` and list it in SECTIONS."""
    def declare(cls: type[S]) -> type[S]:
        section = dataclass(frozen=True)(cls)
        SECTIONS[name] = section
        return section

    return declare


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


@_section("database")
class DatabaseSettings:
    """Where the data lives, and where texts wait while it is down."""

    url: str = _key("sqlite:///var/peerline.db", _to_database_url,
                    "SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user:pw@host/db",
                    secret=True)
    spool_dir: str = _key("var/spool", _to_str, "folder (private to this node) for texts that "
                          "arrive while the database is down")


@_section("sms")
class SmsSettings:
    """How texts go out: printed on the console or sent through Twilio."""

    transport: str = _key("console", _choice("console", "twilio"),
                          '"console" prints and stores texts; "twilio" sends them')


@_section("twilio")
class TwilioSettings:
    """The Twilio account, webhook signatures and the sender's limits."""

    account_sid: str = _key("", _to_str, "Twilio Account SID (AC...)")
    auth_token: str = _key("", _to_str, "Twilio auth token; also signs and validates webhooks",
                           secret=True)
    from_number: str = _key("", _to_str, "E.164 sender number; or messaging_service_sid")
    messaging_service_sid: str = _key("", _to_str, "Messaging Service SID (MG...)")
    api_base_url: str = _key("", _to_base_url,
                             "empty = Twilio; else e.g. http://127.0.0.1:4010 (a mock)")
    validate_signatures: bool = _key(True, _to_bool,
                                     "refuse webhooks without a valid X-Twilio-Signature")
    allow_unsigned: bool = _key(False, _to_bool,
                                "must be true to start with validate_signatures = false and "
                                "transport twilio (a warning is logged at every start)")
    public_url: str = _key("", _to_base_url,
                           "base URL Twilio calls (for signatures behind a proxy)")
    max_messages_per_second: float = _key(1.0, _to_float, "sender-side rate limit")
    max_in_flight: int = _key(32, _to_positive_int, "sends in flight at once; rate x API "
                              "latency, e.g. 100/s x 0.2 s = 20")
    max_attempts: int = _key(8, _to_positive_int, "tries before a send is marked failed")


@_section("flows")
class FlowsSettings:
    """Where the flow files are, and where every loaded version is kept."""

    dir: str = _key("flows", _to_str, "folder of flow YAML files")
    versions_dir: str = _key("var/flow_versions", _to_str,
                             "every flow version loaded is kept here, so runs finish on theirs "
                             "after a restart")


@_section("program")
class ProgramSettings:
    """The program's name, contacts, time zones, quiet hours, length and hard-week rule."""

    name: str = _key("PeerLine", _to_str, "program name used in texts")
    contact: str = _key("", _to_str,
                        "how to reach program staff, said in HELP and unknown-number replies")
    timezone: str = _key("America/New_York", _to_timezone,
                         "default time zone for participants without one")
    quiet_hours: QuietHours = _key("20:00-09:00", _to_quiet_hours, "participant local time; "
                                   "only replies and crisis alerts go out then")
    consent_version: str = _key("1", _to_str, "consent form version recorded at enrolment "
                                "(participant add --consent-version)")
    nudge_max_lateness: Duration = _key("12h", _to_duration, "an approved nudge later than "
                                        "this is expired, not sent (flows may override)")
    length: Duration = _key("16w", _to_duration,
                            "how long a veteran's program lasts from enrolment (staff may "
                            "extend or end one); changing it does not move the ends of "
                            "veterans already enrolled")
    care_team_contact: str = _key("call your VA primary care team (PACT) or send them a secure "
                                  "message on My HealtheVet", _to_str,
                                  "the concrete next step a hard-week reply names, e.g. a "
                                  "clinic number")
    hard_week_points: int = _key(2, _to_int, "a PEG item this many points above the veteran's "
                                 "baseline makes a hard week")
    hard_week_percent: int = _key(30, _to_int, "or this many percent above it (0 turns the "
                                  "percent rule off)")
    contact_every: Duration = _key("14d", _to_duration, "a veteran with no call, visit or text "
                                   "from their coach this long is 'contact due'")
    coach_quiet_hours: QuietHours | None = _key(
        "", _to_optional_quiet_hours,
        "coach local time; non-urgent texts to coaches wait for its end (empty = quiet_hours)")


@_section("safety")
class SafetySettings:
    """Who hears of a crisis beside the coach, and when staff are texted."""

    staff_phones: tuple[str, ...] = _key([], _to_phones, "E.164 numbers texted with every "
                                         "crisis alert, beside the coach")
    staff_after: Duration = _key("2h", _to_duration, "escalations no coach acknowledged by "
                                 "then are texted to staff_phones")


@_section("web")
class WebSettings:
    """The dashboard's sessions, cookies and the proxies in front of it."""

    secret_key: str = _key("", _to_str, "signs sessions; required unless the demo database "
                           "is in use (never with twilio)", secret=True)
    secure_cookies: bool = _key(True, _to_bool, "send session cookies only over HTTPS (set "
                                "false for plain-HTTP local use)")
    proxy_hops: int = _key(0, _to_int, "proxies in front that add X-Forwarded-For (nginx: 1), "
                           "so login limits see the visitor")


@_section("scheduler")
class SchedulerSettings:
    """How often the jobs run, when a send's lease lapses, the digest's hour."""

    interval_seconds: int = _key(30, _to_positive_int, "how often each periodic job runs")
    lease_seconds: int = _key(120, _to_positive_int, "a claimed outbox row whose sender went "
                              "silent this long is reclaimed")
    digest_hour: int = _key(8, _to_hour, "coach's local hour for the daily digest")


@_section("data")
class DataSettings:
    """How long message bodies are kept."""

    retention: Duration = _key("2y", _to_retention, "message bodies older than this are blanked "
                               "by `peerline purge` and a daily job (scores, timings and counts "
                               "are kept): 2y, 400d")


@_section("logging")
class LoggingSettings:
    """How much is logged, and in which format."""

    level: str = _key("INFO", _choice("DEBUG", "INFO", "WARNING", "ERROR"), "log level")
    json: bool = _key(False, _to_bool, "write one JSON object per log line")


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(section, f.name, f.metadata["default"], f.metadata["convert"], f.metadata["help"],
            f.metadata["secret"])
    for section, cls in SECTIONS.items() for f in fields(cls))
