"""Files PeerLine creates on disk are private to its user: folders 0700, files 0600.

Rules:
- The SQLite database holds phone numbers and messages; its folder (`var/` by
  default), the database file and SQLite's -wal/-shm files (which copy the
  database file's mode) are created unreadable to other local users.
- Only what PeerLine creates is changed; an existing folder's mode is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create folder `path` (and missing parents) as 0700; return it."""
    folder = Path(path)
    missing = []
    for parent in (folder, *folder.parents):
        if parent.exists():
            break
        missing.append(parent)
    for item in reversed(missing):
        try:
            item.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(item, 0o700)  # mkdir's mode is masked by the umask
    return folder


def private_file(path: str | os.PathLike[str]) -> Path:
    """Create an empty file `path` as 0600 unless it exists (its folder 0700); return it."""
    target = Path(path)
    private_dir(target.parent)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return target
    os.close(fd)
    os.chmod(target, 0o600)
    return target
