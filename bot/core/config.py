"""Load and validate PeerLine's settings (declared once, in bot/core/settings.py).

Rules:
- Every setting is declared exactly once, in bot/core/settings.py (a frozen
  dataclass per section; SETTINGS is generated from them). `config.example.toml`
  must list the same keys with the same defaults (tests/test_config.py checks this).
- Sources, later wins: built-in defaults, the TOML file, then environment
  variables `PEERLINE_<SECTION>_<KEY>`. Every value, defaults included, is
  converted once here: `config.program.quiet_hours` is a QuietHours, durations
  are Durations, `config.safety.staff_phones` a tuple of E.164 numbers.
- An unknown key or a bad value raises ConfigError naming the key and source;
  start-up stops there. So do settings that are wrong together: with the
  Twilio transport, `safety.staff_phones` must not be empty (crisis alerts
  must reach a human beside the coach).
- A config file that holds a secret must not be readable by other users.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.core.settings import (
    SECTIONS,
    SETTINGS,
    DatabaseSettings,
    DataSettings,
    FlowsSettings,
    LoggingSettings,
    ProgramSettings,
    SafetySettings,
    SchedulerSettings,
    Setting,
    SmsSettings,
    TwilioSettings,
    WebSettings,
)

__all__ = ["SETTINGS", "Config", "ConfigError", "Setting", "find_config_path", "load_config",
           "retention_of"]


class ConfigError(Exception):
    """A setting is unknown or has a bad value."""


def retention_of(config: Config) -> timedelta:
    """Return how long message bodies are kept (`[data] retention`)."""
    return config.data.retention.delta


DEFAULT_DATABASE_URL = "sqlite:///var/peerline.db"
_BY_NAME = {(s.section, s.key): s for s in SETTINGS}
_SECTIONS = sorted(SECTIONS)


@dataclass(frozen=True)
class Config:
    """Validated, typed settings; read them as `config.section.key`."""

    database: DatabaseSettings
    sms: SmsSettings
    twilio: TwilioSettings
    flows: FlowsSettings
    program: ProgramSettings
    safety: SafetySettings
    web: WebSettings
    scheduler: SchedulerSettings
    data: DataSettings
    logging: LoggingSettings
    source: str = "defaults"

    @classmethod
    def from_values(cls, values: Mapping[tuple[str, str], Any],
                    source: str = "defaults") -> Config:
        """Build the sections from converted `(section, key) -> value` pairs."""
        sections = {name: section(**{key: values[(name, key)]
                                     for key in (f.name for f in dataclasses.fields(section))})
                    for name, section in SECTIONS.items()}
        return cls(source=source, **sections)

    def get(self, section: str, key: str) -> Any:
        return getattr(getattr(self, section), key)

    def replace(self, **overrides: Any) -> Config:
        """Return a copy with `section__key=value` overrides applied and validated."""
        values = {(s.section, s.key): self.get(s.section, s.key) for s in SETTINGS}
        for name, raw in overrides.items():
            section, _, key = name.partition("__")
            values[(section, key)] = _convert(section, key, raw, "override")
        return Config.from_values(values, self.source)

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
    values = {(s.section, s.key): s.convert(s.default) for s in SETTINGS}
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
    return Config.from_values(values, source)


def _check_rules(values: Mapping[tuple[str, str], Any], source: str) -> None:
    """Refuse settings that are valid alone but not together."""
    if values[("sms", "transport")] == "twilio" and not values[("safety", "staff_phones")]:
        raise ConfigError(
            f"{source}: [safety] staff_phones is empty but [sms] transport is \"twilio\"; "
            'list the numbers texted with every crisis alert, e.g. staff_phones = '
            '["+12025550100"] (or PEERLINE_SAFETY_STAFF_PHONES)')
