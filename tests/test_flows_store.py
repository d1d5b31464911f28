"""FlowStore: hot reload of valid edits, refusal of invalid ones, every version kept."""

from __future__ import annotations

import os
from pathlib import Path

from bot.flows import store as store_module
from bot.flows.model import Flow
from bot.flows.store import FlowStore

FLOW = "id: hello\ntrigger: {keywords: [HELLO]}\nstart: a\nsteps:\n  a:\n    say: \"{text}\"\n"


def _write(folder: Path, text: str, bump: int) -> None:
    path = folder / "hello.yaml"
    path.write_text(FLOW.replace("{text}", text), encoding="utf-8")
    stamp = 1_700_000_000 + bump
    os.utime(path, (stamp, stamp))


def test_valid_edit_is_picked_up_and_old_version_kept(tmp_path):
    _write(tmp_path, "one", 0)
    store = FlowStore(tmp_path, min_interval=0)
    first = store.get("hello")
    assert first is not None and first.steps["a"].say == ("one",)
    _write(tmp_path, "two", 1)
    second = store.get("hello")
    assert second is not None and second.steps["a"].say == ("two",)
    assert second.version != first.version
    assert store.version("hello", first.version) is first
    assert store.by_keyword("HELLO") is second


def test_invalid_edit_is_refused_and_logged(tmp_path, caplog):
    _write(tmp_path, "one", 0)
    store = FlowStore(tmp_path, min_interval=0)
    good = store.get("hello")
    (tmp_path / "hello.yaml").write_text("id: hello\nstart: a\nsteps:\n  a:\n    sya: x\n")
    os.utime(tmp_path / "hello.yaml", (1_700_000_005, 1_700_000_005))
    assert store.get("hello") is good
    assert any("unknown key 'sya'" in e for e in store.errors)
    assert "flow file refused" in caplog.text
    (tmp_path / "hello.yaml").write_text("id: hello\n  : [\n")
    os.utime(tmp_path / "hello.yaml", (1_700_000_009, 1_700_000_009))
    assert store.get("hello") is good


def test_emptied_file_is_refused_and_last_valid_version_kept(tmp_path, caplog):
    _write(tmp_path, "one", 0)
    store = FlowStore(tmp_path, min_interval=0)
    good = store.get("hello")
    for bump, text in ((5, ""), (9, "# nothing here yet\n")):
        (tmp_path / "hello.yaml").write_text(text, encoding="utf-8")
        os.utime(tmp_path / "hello.yaml", (1_700_000_000 + bump, 1_700_000_000 + bump))
        assert store.get("hello") is good
        assert store.errors == [f"{tmp_path / 'hello.yaml'}:1: the file is empty; "
                                "a flow needs at least id, start and steps"]
    assert "flow file refused" in caplog.text


def test_unchanged_files_are_not_parsed_again(tmp_path, monkeypatch):
    _write(tmp_path, "one", 0)
    store = FlowStore(tmp_path, min_interval=0)
    calls = []
    real = store_module.load_folder
    monkeypatch.setattr(store_module, "load_folder", lambda f: calls.append(f) or real(f))
    for _ in range(5):
        store.get("hello")
    assert calls == []
    _write(tmp_path, "two", 3)
    store.get("hello")
    assert len(calls) == 1


def test_min_interval_limits_directory_scans(tmp_path):
    _write(tmp_path, "one", 0)
    store = FlowStore(tmp_path, min_interval=3600)
    _write(tmp_path, "two", 1)
    assert store.get("hello").steps["a"].say == ("one",)
    assert store.refresh(force=True)
    assert store.get("hello").steps["a"].say == ("two",)


def test_broken_safety_file_keeps_last_valid_matcher(tmp_path):
    (tmp_path / "safety.yaml").write_text(
        "reply: 'Call 988 then press 1 or text 838255'\nphrases: [blue elephant]\n")
    store = FlowStore(tmp_path, min_interval=0)
    assert store.safety.match("a BLUE elephant") == "blue elephant"
    (tmp_path / "safety.yaml").write_text("reply: 'no numbers'\nphrases: [x]\n")
    os.utime(tmp_path / "safety.yaml", (1_700_000_000, 1_700_000_000))
    assert store.safety.match("blue elephant") == "blue elephant"
    assert any("Veterans Crisis Line" in e for e in store.errors)


def test_missing_safety_file_uses_builtin_phrases(tmp_path):
    assert FlowStore(tmp_path).safety.match("I want to die") is not None


def _archived_first_version(tmp_path: Path) -> tuple[Path, Path, Flow]:
    """Load version "one" of hello.yaml with an archive; return the folders and that flow."""
    flows, archive = tmp_path / "flows", tmp_path / "archive"
    flows.mkdir()
    _write(flows, "one", 0)
    first = FlowStore(flows, min_interval=0, archive=archive).get("hello")
    assert first is not None
    return flows, archive, first


def test_versions_outlive_a_restart_through_the_archive(tmp_path):
    flows, archive, first = _archived_first_version(tmp_path)
    assert (archive / first.version / "hello.yaml").read_text().count("one") == 1
    _write(flows, "two", 1)
    restarted = FlowStore(flows, min_interval=0, archive=archive)  # a new process
    old = restarted.version("hello", first.version)
    assert old is not None and old.steps["a"].say == ("one",)
    assert restarted.get("hello").steps["a"].say == ("two",)
    assert restarted.version("hello", first.version) is old  # parsed once, then kept


def test_an_archive_file_that_does_not_match_its_version_is_not_used(tmp_path):
    flows, archive, first = _archived_first_version(tmp_path)
    (archive / first.version / "hello.yaml").write_text(FLOW.replace("{text}", "tampered"))
    _write(flows, "two", 1)
    assert FlowStore(flows, min_interval=0, archive=archive).version("hello", first.version) \
        is None


def test_without_an_archive_a_new_process_knows_only_current_versions(tmp_path):
    _write(tmp_path, "one", 0)
    first = FlowStore(tmp_path, min_interval=0).get("hello")
    assert first is not None
    _write(tmp_path, "two", 1)
    assert FlowStore(tmp_path, min_interval=0).version("hello", first.version) is None
