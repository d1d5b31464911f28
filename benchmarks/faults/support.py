"""Shared plumbing for the fault scripts: databases, configs, scheduler processes, polling."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import (  # noqa: E402
    ROOT,
    VENV_BIN,
    fresh_postgres,
    migrate,
    postgres_available,
    seed,
    sqlite_url,
    stop_group,
    write_config,
)

__all__ = ["ROOT", "fresh_postgres", "migrate", "postgres_available", "seed", "sqlite_url",
           "config_from_overrides", "scheduler_process", "wait_until", "database_for"]


def database_for(name: str, folder: str) -> str:
    """Return a fresh migrated database: PostgreSQL when it answers, else SQLite.

    PEERLINE_FAULT_BACKEND=sqlite forces SQLite.
    """
    use_pg = os.environ.get("PEERLINE_FAULT_BACKEND") != "sqlite" and postgres_available()
    url = fresh_postgres(name) if use_pg else sqlite_url(folder, f"{name}.db")
    migrate(url)
    return url


def config_from_overrides(folder: str, url: str, overrides: dict[str, Any]) -> Path:
    """Write a config file from `section__key` overrides (as FakeTwilio.config_overrides)."""
    sections: dict[str, dict[str, Any]] = {"flows": {"dir": str(ROOT / "flows")},
                                           "logging": {"level": "WARNING"}}
    for name, value in overrides.items():
        section, _, key = name.partition("__")
        sections.setdefault(section, {})[key] = value
    return write_config(folder, url, **sections)


@contextlib.contextmanager
def scheduler_process(config: Path, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `peerline scheduler --config` in its own process group; stop it afterwards."""
    log = open(log_path, "ab")
    proc = subprocess.Popen([str(VENV_BIN / "peerline"), "scheduler", "--config", str(config)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=str(config.parent),
                            start_new_session=True)
    try:
        yield proc
    finally:
        stop_group(proc, timeout=30)
        log.close()


def kill9(proc: subprocess.Popen[bytes]) -> None:
    """Kill `proc` and its group with SIGKILL, as a power cut would."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def wait_until(check: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy; return it (or the last value)."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = check()
    return value
