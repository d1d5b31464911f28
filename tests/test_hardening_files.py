"""Database files and the var/ folder are private to PeerLine's user (0600 / 0700)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot import create_app
from bot.core.config import load_config
from bot.core.db import Database, upgrade
from bot.services import build_services


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    """Under the usual umask 022, files come out 0644 unless PeerLine says otherwise."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_folders_are_private(tmp_path: Any) -> None:
    path = tmp_path / "var" / "data" / "peerline.db"
    upgrade(f"sqlite:///{path}")
    db = Database(f"sqlite:///{path}")
    with db.session() as session:
        session.execute(text("SELECT count(*) FROM participants"))
    files = [p for p in path.parent.iterdir() if p.name.startswith("peerline.db")]
    assert files and {p.name for p in files} >= {"peerline.db"}
    for file in files:
        assert _mode(file) == 0o600, file
    assert _mode(path.parent) == 0o700 and _mode(path.parent.parent) == 0o700
    db.dispose()


def test_the_demo_var_folder_and_its_files_are_private(clock: Any, sender: Any) -> None:
    config = load_config(None, environ={})  # the demo: sqlite:///var/peerline.db, cwd is tmp
    upgrade(config.database.url)
    services = build_services(config, clock=clock, sender=sender)
    try:
        create_app(services=services)
    finally:
        services.db.dispose()
    var = Path("var")
    assert _mode(var) == 0o700
    for file in var.rglob("*"):
        if file.is_dir():
            assert _mode(file) == 0o700, file
        else:
            assert _mode(file) & 0o077 == 0, file
