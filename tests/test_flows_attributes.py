"""`flows check` and the Flow files page catch unknown attributes, not only unknown variables."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bot.flows.attributes import ATTRIBUTES
from bot.flows.store import FlowStore
from bot.runtime.apply import context_for
from tests.dashboard_support import Visitor
from tests.test_cli import run

SHIPPED = Path(__file__).parent.parent / "flows"


def _say_line() -> int:
    """Return the line of the shipped check-in's first `say:` (where its problems point)."""
    lines = (SHIPPED / "weekly_checkin.yaml").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.strip().startswith("say:"))


def _typo_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    shutil.copytree(SHIPPED, folder)
    path = folder / "weekly_checkin.yaml"
    text = path.read_text()
    assert "participant.first_name }}, check-in" in text
    path.write_text(text.replace("participant.first_name }}, check-in",
                                 "participant.frist_name }}, check-in")
                    .replace("{{ coach.first_name }} know", "{{ coach['phone'] }} know"))
    (folder / "uses_a_saved_field.yaml").write_text(
        "id: uses_a_saved_field\nstart: a\nsteps:\n  a:\n"
        "    say: \"Your skills: {{ participant.strategies|join(', ') }}\"\n"
        "    next:\n      - when: \"program.nme == 'x'\"\n        go: b\n      - go: b\n"
        "  b:\n    say: \"{{ participant.fields.anything }} {{ participant.goal_text }}\"\n"
        "  c_pick:\n    say: hi\n")
    return folder


def test_flows_check_names_each_unknown_attribute_with_file_line_and_a_suggestion(tmp_path):
    folder = _typo_folder(tmp_path)
    result = run("flows", "check", str(folder))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    weekly = folder / "weekly_checkin.yaml"
    assert (f"{weekly}:{_say_line()}: say uses 'participant.frist_name', but participant has no "
            f"'frist_name' (did you mean 'first_name'?)") in lines
    assert any(line.startswith(f"{weekly}:") and "'coach.phone', but coach has no 'phone'; "
               "coach has: first_name, id, name" in line for line in lines), lines
    other = folder / "uses_a_saved_field.yaml"
    assert any(line.startswith(f"{other}:7: when uses 'program.nme'") and
               "(did you mean 'name'?)" in line for line in lines), lines
    assert any("'participant.goal_text'" in line for line in lines)
    assert not any("participant.fields" in line or "participant.strategies" in line
                   for line in lines)


def test_a_field_another_flow_saves_is_known(tmp_path):
    folder = _typo_folder(tmp_path)
    (folder / "saves_goal.yaml").write_text(
        "id: saves_goal\ntrigger: {keywords: [GOALTEXT]}\nstart: a\nsteps:\n  a:\n"
        "    say: What is your goal?\n    expect: {type: text}\n"
        "    save: participant.goal_text\n")
    result = run("flows", "check", str(folder))
    assert "goal_text" not in result.stdout


def test_the_known_attributes_are_what_templates_get(services: Any, people: dict[str, int]):
    from bot.models import Participant

    with services.db.session() as session:
        context = context_for(services, session.get(Participant, people["participant"]))
    assert set(context.participant) == ATTRIBUTES["participant"]
    assert set(context.coach) == ATTRIBUTES["coach"]
    assert set(context.program) == ATTRIBUTES["program"]


def test_the_flow_files_page_shows_the_same_problem(app: Any, services: Any, world: Any,
                                                    tmp_path: Path) -> None:
    sage = Visitor(app.test_client())
    assert sage.login("sage", "sage-password").status_code == 302
    services.flows = FlowStore(_typo_folder(tmp_path))
    page = sage.text("/staff/flows")
    assert f"weekly_checkin.yaml:{_say_line()}: say uses &#39;participant.frist_name&#39;" in page
    assert "did you mean &#39;first_name&#39;?" in page
