"""Flow files cannot stall PeerLine: bounded templates and YAML, reloads in the background."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bot import create_app
from bot.flows import store as store_module
from bot.flows.folder import check_path
from bot.flows.store import FlowStore
from bot.services import build_services
from tests.conftest import PARTICIPANT_PHONE, Sms, make_config, replies

REPO = Path(__file__).resolve().parent.parent
PEERLINE = Path(sys.executable).with_name("peerline")
FLOW = "id: {id}\nstart: s\nsteps:\n  s:\n    say: '{say}'\n"
ALIAS_BOMB = 'x-a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"x-{name}: &{name} [{', '.join(['*' + previous] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True))


def _flows_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    shutil.copytree(REPO / "flows", folder)
    return folder


def _template_bomb(folder: Path) -> Path:
    path = folder / "fallback.yaml"
    text = path.read_text()
    assert "this line is automated" in text
    path.write_text(text.replace("this line is automated",
                                 "this line is {{ 9**10000000 }} automated"))
    return path


def _alias_bomb(folder: Path) -> Path:
    path = folder / "bomb.yaml"  # the bomb where the loader walks it: trigger keywords
    path.write_text(ALIAS_BOMB + "id: bomb\ntrigger:\n  keywords: *i\nstart: s\n"
                    "steps:\n  s:\n    say: hi\n")
    return path


def _check(folder: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    done = subprocess.run([str(PEERLINE), "flows", "check", str(folder)], capture_output=True,
                          text=True, timeout=120)
    return done, time.perf_counter() - started


@pytest.mark.parametrize("bomb, line, words", [
    (_template_bomb, 8, "9**10000000 is too large"),  # the `say:` of flows/fallback.yaml
    (_alias_bomb, 5, "expand to more than"),
])
def test_flows_check_refuses_a_bomb_without_expanding_it(tmp_path, bomb, line, words):
    folder = _flows_copy(tmp_path)
    path = bomb(folder)
    # CPU seconds of the check itself, in this process: a busy machine does not inflate them
    # the way it does wall-clock time, and an expanded bomb costs 21 s to 30 s+ of CPU.
    started = time.process_time()
    problems = check_path(folder)
    took = time.process_time() - started
    assert any(p.startswith(f"{path}:{line}: ") and words in p for p in problems), problems
    assert took < 5.0, f"flows check spent {took:.2f} s of CPU: the bomb was expanded"
    done, _ = _check(folder)  # and the command says the same, with no traceback
    assert done.returncode == 1
    assert f"{path}:{line}: " in done.stdout and words in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_templates_cannot_compute_huge_values(tmp_path):
    folder = _flows_copy(tmp_path)
    for n, template in enumerate(('{{ "x" * 10**9 }}', "{{ [1] * 10**8 }}",
                                  "{{ range(10**9) | list | length }}",
                                  '{{ "%099999999d" % 1 }}')):
        (folder / f"t{n}.yaml").write_text(FLOW.format(id=f"t{n}", say=template))
    (folder / "ok.yaml").write_text(FLOW.format(id="ok", say='{{ 2**10 }} {{ "ab" * 3 }}'))
    done, _ = _check(folder)
    out = done.stdout
    assert done.returncode == 1 and "ok.yaml" not in out
    assert "t0.yaml" in out and "t1.yaml" in out and "t3.yaml" in out  # caught when loading
    from bot.flows.templates import render

    started = time.perf_counter()
    text, error = render("{{ range(10**9) | list | length }}", {})  # caught when rendering
    assert text == "" and error and "range" in error
    assert time.perf_counter() - started < 0.5


def test_an_unreadable_flow_file_is_a_problem_with_a_line_not_a_traceback(tmp_path):
    folder = _flows_copy(tmp_path)
    (folder / "deep.yaml").write_text("id: deep\nsteps: " + "[" * 5000 + "]" * 5000 + "\n")
    done, _ = _check(folder)
    assert done.returncode == 1 and f"{folder / 'deep.yaml'}:" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_readers_never_wait_on_a_background_reload(tmp_path, monkeypatch):
    folder = _flows_copy(tmp_path)
    store = FlowStore(folder, min_interval=0, background=True)
    old = store.get("fallback")
    gate = threading.Event()
    real = store_module.load_folder

    def slow_load(path: Path) -> Any:
        gate.wait(30)
        return real(path)

    monkeypatch.setattr(store_module, "load_folder", slow_load)
    edited = folder / "fallback.yaml"
    edited.write_text(edited.read_text().replace("this line is automated", "Hello there"))
    os.utime(edited, (1_900_000_000, 1_900_000_000))
    started = time.perf_counter()
    assert store.get("fallback") is old  # starts the reload, returns the snapshot in force
    assert store.safety.match("I want to kill myself") is not None
    assert store.get("fallback") is old
    assert time.perf_counter() - started < 0.5
    gate.set()
    store.wait_for_reload(30)
    assert "Hello there" in store.get("fallback").steps["reply"].say[0]  # the first of two


def test_a_crisis_text_during_a_reload_of_a_bomb_is_answered_within_a_second(
        tmp_path, db_url, clock, sender, monkeypatch):
    from bot.domain.people import add_coach, add_participant

    folder = _flows_copy(tmp_path)
    services = build_services(make_config(db_url, flows__dir=str(folder)), clock=clock,
                              sender=sender)
    with services.db.session() as session:
        coach = add_coach(session, name="Alex Rivera", phone="+12025550101", now=clock.now())
        add_participant(session, phone=PARTICIPANT_PHONE, name="Sam Carter", coach=coach,
                        timezone="America/New_York", now=clock.now())
    sms = Sms(create_app(services=services).test_client())
    reloading = threading.Event()
    real = store_module.load_folder

    def load_slowly(path: Path) -> Any:
        reloading.set()
        time.sleep(3)  # a reload that takes its time, whatever the files hold
        return real(path)

    monkeypatch.setattr(store_module, "load_folder", load_slowly)
    _template_bomb(folder)
    _alias_bomb(folder)
    os.utime(folder / "fallback.yaml", (1_900_000_000, 1_900_000_000))
    services.flows.min_interval = 0  # type: ignore[union-attr]
    try:
        sms.send(PARTICIPANT_PHONE, "hello")  # sees the edit: starts the reload
        assert reloading.wait(5)
        started = time.perf_counter()
        crisis = sms.send(PARTICIPANT_PHONE, "I want to kill myself")
        took = time.perf_counter() - started
        assert crisis.status_code == 200 and "988" in replies(crisis)[0]
        assert took < 1.0, f"{took:.2f} s"
        services.flows.wait_for_reload(30)  # type: ignore[union-attr]
        assert any("9**10000000" in e for e in services.flows.errors)  # type: ignore[union-attr]
        assert services.flows.get("fallback") is not None  # type: ignore[union-attr]
    finally:
        services.db.dispose()
