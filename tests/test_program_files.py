"""Test the strategy library and nudge schedule files: loading, FILE:LINE problems, picking."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.flows.program_files import (
    ProgramCache,
    ProgramFileError,
    Strategy,
    check,
    load_nudge_schedules,
    load_strategies,
    pick_for,
    pick_reminder,
    pick_text,
    render,
    same_text,
)

FLOWS = Path(__file__).resolve().parent.parent / "flows"
BROKEN = Path(__file__).resolve().parent / "fixtures" / "broken_program"
CONTEXT = {"participant": {"first_name": "Sam"}, "coach": {"first_name": "Alex"},
           "program": {"name": "PeerLine"}}
REQUIRED = {"action_plan", "relaxation", "pacing", "activity", "pleasant", "thinking", "sleep",
            "flare_plan"}

# case folder -> the problems it must give, exactly: (file, line, words in the message)
BROKEN_CASES: dict[str, list[tuple[str, int, str]]] = {
    "yaml_syntax": [("strategies.yaml", 5, "invalid YAML")],
    "python_tag": [("strategies.yaml", 3, "tags like !!python/object/apply:os.system")],
    "duplicate_key": [("strategies.yaml", 4, 'duplicate key "name"')],
    "empty_file": [("strategies.yaml", 1, "the file is empty")],
    "wrong_top_key": [("strategies.yaml", 1, "did you mean 'strategies'?"),
                      ("strategies.yaml", 1, "must be a list")],
    "unknown_key": [("strategies.yaml", 2, "`reminders` of strategy 'pacing' must be a list"),
                    ("strategies.yaml", 5, "unknown key 'reminder' in strategy 1 (did you mean "
                                           "'reminders'?)")],
    "few_reminders": [("strategies.yaml", 5, "has 3 texts in `reminders`; it needs at least 4")],
    "repeated_reminder": [("strategies.yaml", 10, "text 5 repeats an earlier text")],
    "duplicate_id": [("strategies.yaml", 6, "duplicate strategy id 'pacing' (first on line 2)")],
    "bad_id": [("strategies.yaml", 2, "lower case letters, digits and _ (got 'Pacing Tips')")],
    "missing_name": [("strategies.yaml", 2, "strategy 'pacing' needs a `name`")],
    "long_text": [("strategies.yaml", 9, "text 4 is about 420 characters")],
    "bad_template": [("strategies.yaml", 6, "text 1: template error"),
                     ("strategies.yaml", 7, "unknown variable 'pain'")],
    "bad_cron": [("nudges.yaml", 3, "bad cron '0 25 * * MON'"),
                 ("nudges.yaml", 7, "bad cron '0 0 11 * * TUE'")],
    "bad_max_late": [("nudges.yaml", 5, "`max_late`: bad duration 'soon'")],
    "no_texts": [("nudges.yaml", 2, "needs `texts:` (a list) or `from_strategies: true`")],
    "one_text": [("nudges.yaml", 5, "has 1 texts in `texts`; it needs at least 2")],
    "texts_and_strategies": [("nudges.yaml", 6, "has both `texts` and `from_strategies: true`")],
    "strategies_missing": [("nudges.yaml", 5, "no valid strategies.yaml")],
    "bad_schedule_fields": [("nudges.yaml", 2, "needs `texts:`"),
                            ("nudges.yaml", 5, "`enabled` must be true or false"),
                            ("nudges.yaml", 6, "unknown key 'text' in schedule 1 (did you mean "
                                               "'texts'?)"),
                            ("nudges.yaml", 7, "duplicate schedule id 'encouragement'")],
    "pick_flow_mismatch": [("pick.yaml", 14, "option 'yoga' of step 'choose' is not a strategy id"),
                           ("strategies.yaml", 6, "strategy 'sleep' is not offered by step "
                                                  "'choose' of pick.yaml")],
}


def test_shipped_files_are_valid() -> None:
    assert check(FLOWS) == []


def test_shipped_library_has_every_strategy_with_short_reminders() -> None:
    library = load_strategies(FLOWS)
    assert REQUIRED <= set(library)
    for strategy in library.values():
        assert strategy.name and strategy.description
        assert len(strategy.reminders) >= 4, strategy.id
        for text in strategy.reminders:
            assert len(render(text, CONTEXT)) <= 160, text


def test_shipped_schedules_encourage_twice_a_week_and_remind_from_strategies() -> None:
    schedules = {s.id: s for s in load_nudge_schedules(FLOWS)}
    days = schedules["encouragement"].cron.split()[4]
    assert len(days.split(",")) == 2
    assert len(schedules["encouragement"].texts) >= 4
    assert schedules["encouragement"].max_late == timedelta(hours=6)
    reminder = [s for s in schedules.values() if s.from_strategies]
    assert len(reminder) == 1 and reminder[0].texts == ()
    for schedule in schedules.values():
        for text in schedule.texts:
            assert "Alex" in render(text, CONTEXT)  # drafts speak in the coach's name


def test_every_broken_case_is_listed() -> None:
    assert sorted(p.name for p in BROKEN.iterdir() if p.is_dir()) == sorted(BROKEN_CASES)


@pytest.mark.parametrize("case", sorted(BROKEN_CASES))
def test_broken_files_give_file_line_messages(case: str) -> None:
    folder = BROKEN / case
    problems = check(folder)
    expected = BROKEN_CASES[case]
    assert len(problems) == len(expected), "\n".join(problems)
    for problem, (file, line, words) in zip(problems, expected, strict=True):
        assert problem.startswith(f"{folder / file}:{line}: "), problem
        assert words in problem, problem


def test_a_python_tag_runs_nothing(tmp_path: Path) -> None:
    assert os.getcwd() == str(tmp_path)
    check(BROKEN / "python_tag")
    assert not (tmp_path / "pwned.txt").exists()


def test_loaders_raise_with_problems_and_accept_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ProgramFileError) as info:
        load_strategies(BROKEN / "duplicate_id")
    assert info.value.problems[0].endswith("duplicate strategy id 'pacing' (first on line 2)")
    with pytest.raises(ProgramFileError):
        load_nudge_schedules(BROKEN / "bad_cron")
    assert load_strategies(tmp_path) == {}
    assert load_nudge_schedules(tmp_path) == ()
    assert check(tmp_path) == []


def test_disabled_schedules_are_not_loaded(tmp_path: Path) -> None:
    (tmp_path / "nudges.yaml").write_text(
        "schedules:\n  - id: a\n    cron: '0 11 * * TUE'\n    reason: R\n    enabled: false\n"
        "    texts: [One., Two.]\n  - id: b\n    cron: '0 11 * * FRI'\n    reason: R\n"
        "    texts: [One., Two.]\n", encoding="utf-8")
    assert [s.id for s in load_nudge_schedules(tmp_path)] == ["b"]


LIBRARY = {
    "pacing": Strategy("pacing", "Pacing", "d", ("P1 {{ participant.first_name }}", "P2", "P3",
                                                  "P4")),
    "sleep": Strategy("sleep", "Sleep", "d", ("S1", "S2", "S3", "S4")),
    "solo": Strategy("solo", "Solo", "d", ("Only one, {{ participant.first_name }}.",)),
}


@settings(max_examples=200, deadline=None)
@given(chosen=st.lists(st.sampled_from(sorted(LIBRARY) + ["unknown"]), min_size=1),
       seeds=st.lists(st.integers(), min_size=2, max_size=30), rendered=st.booleans())
def test_no_reminder_repeats_twice_in_a_row(chosen: list[str], seeds: list[int],
                                            rendered: bool) -> None:
    last: str | None = None
    for seed in seeds:
        text = pick_reminder(LIBRARY, chosen, last, seed)
        if text is None:
            # only possible when the single candidate was the one sent last time
            assert set(chosen) - {"unknown"} <= {"solo"}
            continue
        assert last is None or not same_text(text, last)
        assert any(text in LIBRARY[c].reminders for c in chosen if c in LIBRARY)
        last = render(text, CONTEXT) if rendered else text


def test_the_rendered_last_text_is_recognised() -> None:
    sent = render("Only one, {{ participant.first_name }}.", CONTEXT)
    assert sent == "Only one, Sam."
    assert pick_reminder(LIBRARY, ["solo"], sent, seed=1) is None
    only = LIBRARY["solo"].reminders[0]
    assert pick_reminder(LIBRARY, ["solo"], "Something else.", seed=1) == only
    assert not same_text("P1 {{ participant.first_name }}", "P2")


def test_picking_spreads_over_the_chosen_strategies_and_is_repeatable() -> None:
    picks = [pick_reminder(LIBRARY, ["pacing", "sleep"], None, seed) for seed in range(200)]
    assert {p[0] for p in picks if p} == {"P", "S"}
    assert len(set(picks)) == 8
    assert picks == [pick_reminder(LIBRARY, ["pacing", "sleep"], None, s) for s in range(200)]


def test_nothing_chosen_means_no_reminder() -> None:
    assert pick_reminder(LIBRARY, [], None, seed=3) is None
    assert pick_reminder(LIBRARY, ["yoga"], None, seed=3) is None


def test_pick_text_and_pick_for_never_repeat_the_last_text() -> None:
    schedules = {s.id: s for s in load_nudge_schedules(FLOWS)}
    library = load_strategies(FLOWS)
    last = None
    for seed in range(50):
        text = pick_for(schedules["encouragement"], library, [], last, f"enc:1:{seed}")
        assert text is not None and text != last
        last = render(text, CONTEXT)
    assert pick_for(schedules["skill_reminder"], library, [], None, "x") is None
    chosen = pick_for(schedules["skill_reminder"], library, ["sleep"], None, "x")
    assert chosen in library["sleep"].reminders
    assert pick_text(["A", "B"], "A", seed=9) == "B"
    assert pick_text(["A"], "A", seed=9) is None


def test_cache_keeps_the_last_valid_version_and_picks_up_valid_edits(tmp_path: Path) -> None:
    for name in ("strategies.yaml", "nudges.yaml"):
        shutil.copy(FLOWS / name, tmp_path / name)
    cache = ProgramCache(tmp_path, recheck_every=0)
    assert "pacing" in cache.strategies()
    before = cache.schedules()
    nudges = tmp_path / "nudges.yaml"
    nudges.write_text("schedules: [\n", encoding="utf-8")
    os.utime(nudges, (1, 1))
    assert cache.schedules() == before
    text = (FLOWS / "nudges.yaml").read_text(encoding="utf-8").replace("0 11 * * TUE,FRI",
                                                                       "0 12 * * MON,THU")
    nudges.write_text(text, encoding="utf-8")
    os.utime(nudges, (2, 2))
    assert {s.cron for s in cache.schedules()} == {"0 12 * * MON,THU", "0 14 * * WED"}


def test_cache_looks_at_the_files_at_most_every_recheck_interval(tmp_path: Path) -> None:
    for name in ("strategies.yaml", "nudges.yaml"):
        shutil.copy(FLOWS / name, tmp_path / name)
    cache = ProgramCache(tmp_path, recheck_every=60)
    before = {s.cron for s in cache.schedules()}
    nudges = tmp_path / "nudges.yaml"
    nudges.write_text((FLOWS / "nudges.yaml").read_text(encoding="utf-8")
                      .replace("0 11 * * TUE,FRI", "0 12 * * MON,THU"), encoding="utf-8")
    os.utime(nudges, (3, 3))
    assert {s.cron for s in cache.schedules()} == before  # looked less than 60 s ago
    cache.recheck_every = 0  # as if the interval had passed
    assert "0 12 * * MON,THU" in {s.cron for s in cache.schedules()}
