"""FlowStore: the running server's flows, hot-reloaded, with every version ever loaded.

Invariants:
- Asking the store costs a directory scan of file sizes and mtimes at most
  once per `min_interval` seconds; files are parsed only when that changes.
- A file that does not validate is refused: its problems are logged and kept
  in `errors`, and the last valid version of that flow keeps running.
- Every loaded version stays available by (flow id, content hash), so a run
  finishes on the version it started. With an `archive` folder this holds
  across restarts too: each version's bytes are written there when first
  loaded (`<archive>/<version>/<flow id>.yaml`, written whole then renamed)
  and read back when a run asks for a version this process never loaded.
  Archiving never raises; a version it could not write is logged.
- safety.yaml follows the same rule; without any valid one the built-in
  crisis phrases apply, so crisis detection is never off.
- The loaded state is one immutable snapshot (flows, safety matcher,
  errors), swapped in whole by one assignment once a reload is done. Readers
  (`get`, `by_keyword`, `flows`, `safety`) read the snapshot without taking
  the reload lock. With `background=True` (the running app, built by
  bot.services) a reader that sees changed files only starts a reload thread
  and goes on with the current snapshot: a request never parses YAML and the
  crisis screen never waits on a reload. Without it (tests, tools) a reader
  reloads in place, as `refresh()` always does.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.files import private_dir
from bot.flows.folder import SAFETY_FILE, load_folder
from bot.flows.loader import content_version, parse_flow
from bot.flows.model import Flow
from bot.flows.safety import SafetyMatcher
from bot.flows.yamlio import Report

log = logging.getLogger(__name__)
Signature = tuple[tuple[str, int, int, int], ...]


@dataclass(frozen=True)
class _Snapshot:
    """What one reload produced; replaced whole, never changed."""

    current: dict[str, Flow] = field(default_factory=dict)
    by_path: dict[str, Flow] = field(default_factory=dict)
    safety: SafetyMatcher = field(default_factory=SafetyMatcher)
    errors: list[str] = field(default_factory=list)


class FlowStore:
    """Hold the current and past versions of the flows in one folder."""

    def __init__(self, folder: str | os.PathLike[str], min_interval: float = 1.0,
                 archive: str | os.PathLike[str] | None = None, background: bool = False):
        self.folder = Path(folder)
        self.min_interval = min_interval
        self.archive = Path(archive) if archive is not None else None
        self.background = background
        self._lock = threading.RLock()  # held by a reload; readers never take it
        self._starting = threading.Lock()  # held for a scan while a reader starts a reload
        self._reloader: threading.Thread | None = None
        self._snapshot = _Snapshot()
        self._versions: dict[tuple[str, str], Flow] = {}
        self._signature: Signature | None = None
        self._checked_at = 0.0
        self.refresh(force=True)

    @property
    def errors(self) -> list[str]:
        """Return the problems of the last reload, as FILE:LINE lines."""
        return self._snapshot.errors

    def _scan(self) -> Signature:
        entries: list[tuple[str, int, int, int]] = []
        try:
            with os.scandir(self.folder) as found:
                for entry in found:
                    if entry.name.endswith(".yaml") and entry.is_file():
                        info = entry.stat()
                        entries.append((entry.name, info.st_mtime_ns, info.st_size, info.st_ino))
        except OSError:
            return ()
        return tuple(sorted(entries))

    def refresh(self, force: bool = False) -> bool:
        """Reload changed files (cheap when nothing changed); return whether anything did."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.min_interval:
            return False
        self._checked_at = now
        return self._reload_if_changed(force)

    def _reload_if_changed(self, force: bool) -> bool:
        with self._lock:
            signature = self._scan()
            if signature == self._signature and not force:
                return False
            self._signature = signature
            self._reload()
            return True

    def _look(self) -> None:
        """Pick up edits: in place, or (background) by starting a reload thread; never wait."""
        if not self.background:
            self.refresh()
            return
        now = time.monotonic()
        if now - self._checked_at < self.min_interval:
            return
        if not self._starting.acquire(blocking=False):
            return  # another reader is looking right now
        try:
            self._checked_at = now
            if self._reloader is not None and self._reloader.is_alive():
                return
            if self._scan() == self._signature:
                return
            self._reloader = threading.Thread(target=self._reload_in_background,
                                              name="peerline-flows-reload", daemon=True)
            self._reloader.start()
        finally:
            self._starting.release()

    def _reload_in_background(self) -> None:
        try:
            self._reload_if_changed(False)
        except Exception:  # noqa: BLE001 - the last good snapshot keeps running
            log.exception("flows reload failed; the last valid flows stay in force")

    def wait_for_reload(self, timeout: float | None = None) -> None:
        """Wait for a background reload in progress to finish (tests, shutdown)."""
        reloader = self._reloader
        if reloader is not None:
            reloader.join(timeout)

    def _reload(self) -> None:
        loaded = load_folder(self.folder)
        bad = loaded.bad_paths()
        previous = self._snapshot
        errors = [str(p) for p in loaded.problems]
        for problem in loaded.problems:
            log.error("flow file refused: %s", problem)
        current: dict[str, Flow] = {}
        by_path: dict[str, Flow] = {}
        for flow in loaded.flows:
            chosen = previous.by_path.get(flow.path) if flow.path in bad else flow
            if chosen is None:
                continue
            by_path[flow.path] = chosen
            current[chosen.id] = chosen
            if (chosen.id, chosen.version) not in self._versions:
                self._archive(chosen)
            self._versions[(chosen.id, chosen.version)] = chosen
        for path, old in previous.by_path.items():  # unparseable now, but valid before
            if path in bad and path not in by_path and Path(path).exists():
                by_path[path] = old
                current.setdefault(old.id, old)
        safety = previous.safety
        if loaded.safety is not None:
            safety = loaded.safety
        elif (self.folder / SAFETY_FILE).exists():
            for problem in loaded.safety_problems:
                log.error("safety.yaml refused: %s", problem)
                errors.append(str(problem))
        self._snapshot = _Snapshot(current, by_path, safety, errors)  # swapped in whole
        log.info("flows loaded: %s", ", ".join(sorted(current)) or "none")

    def _archived_path(self, flow_id: str, version: str) -> Path | None:
        if self.archive is None or not version.isalnum() or not flow_id \
                or Path(flow_id).name != flow_id:
            return None
        return self.archive / version / f"{flow_id}.yaml"

    def _archive(self, flow: Flow) -> None:
        """Keep the bytes of a newly loaded version in the archive folder."""
        target = self._archived_path(flow.id, flow.version)
        if target is None or target.exists():
            return
        try:
            data = Path(flow.path).read_bytes()
            if content_version(data) != flow.version:
                return  # edited again since it was parsed: the next reload archives that one
            private_dir(target.parent)
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(data)
            partial.replace(target)
        except OSError as exc:
            log.warning("could not archive flow %s version %s: %s", flow.id, flow.version, exc)

    def _from_archive(self, flow_id: str, version: str) -> Flow | None:
        """Parse an archived version, if the archive has it."""
        path = self._archived_path(flow_id, version)
        try:
            data = path.read_bytes() if path is not None else None
        except OSError:
            return None
        if path is None or data is None or content_version(data) != version:
            return None
        report = Report(str(path))
        flow = parse_flow(path, data, report)
        if flow is None or report.problems:
            log.error("archived flow %s version %s does not load: %s", flow_id, version,
                      "; ".join(str(p) for p in report.problems))
            return None
        return flow

    def get(self, flow_id: str) -> Flow | None:
        """Return the current version of `flow_id`."""
        self._look()
        return self._snapshot.current.get(flow_id)

    def version(self, flow_id: str, version: str) -> Flow | None:
        """Return version `version` of `flow_id` if it was loaded here or is archived."""
        self._look()
        found = self._versions.get((flow_id, version))
        if found is None and (found := self._from_archive(flow_id, version)) is not None:
            self._versions[(flow_id, version)] = found  # one key: atomic, no lock needed
        return found

    def by_keyword(self, word: str) -> Flow | None:
        """Return the flow whose trigger keyword is `word` (already normalized)."""
        self._look()
        for flow in self._snapshot.current.values():
            if word in flow.keywords:
                return flow
        return None

    def flows(self) -> list[Flow]:
        """Return the current version of every flow, by id."""
        self._look()
        current = self._snapshot.current
        return [current[key] for key in sorted(current)]

    def scheduled(self) -> list[Flow]:
        """Return the flows that have a `trigger.schedule`."""
        return [flow for flow in self.flows() if flow.schedule]

    @property
    def safety(self) -> SafetyMatcher:
        """Return the crisis matcher in force (never waits on a reload)."""
        self._look()
        return self._snapshot.safety
