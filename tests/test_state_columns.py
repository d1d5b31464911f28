"""Each state column's values belong to one StrEnum, and code names them by it.

Read from the source (ast), so a misspelt state ("canceled" on an outbox row) or a
new bare literal fails here, not in production.
"""

from __future__ import annotations

import ast
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.domain.nudges import NudgeStatus
from bot.domain.program_arc import Status
from bot.inbound.concern import ConcernState
from bot.models import Concern, Message, Nudge, Outbox, Participant, Run
from bot.outbox.delivery import MessageStatus, OutboxState
from bot.runtime.states import RunStatus
from scheduler.jobs import run_all
from tests.conftest import COACH_PHONE, PARTICIPANT_PHONE

REPO = Path(__file__).resolve().parent.parent
COLUMNS: dict[tuple[str, str], type[StrEnum]] = {
    ("Run", "status"): RunStatus,
    ("Nudge", "status"): NudgeStatus,
    ("Participant", "status"): Status,
    ("Participant", "status_before_opt_out"): Status,
    ("Outbox", "state"): OutboxState,
    ("Message", "status"): MessageStatus,
    ("Concern", "state"): ConcernState,
}
MODELS = {"Run": Run, "Nudge": Nudge, "Participant": Participant, "Outbox": Outbox,
          "Message": Message, "Concern": Concern}
STATE_NAMES = {key for _, key in COLUMNS}
# bot/models/ cannot import the owners (they import it); its defaults are checked below
# instead, and Participant.opted_out names its two states bare.
PENDING_SWITCH = {"bot/models/people.py"}
# A `state`/`status` here is not a column: the circuit breaker's own states, the health
# page's JSON, a transport's result (bot.sms sits below bot.outbox and cannot import it).
NOT_COLUMNS = {"bot/sending/circuit.py", "bot/web/health.py", "bot/sms/console.py"}


def _strings(node: ast.AST) -> list[str]:
    """Return the string constants of `node`: a literal, or a tuple/list/set of them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [v for item in node.elts for v in _strings(item)]
    return []


def _column(node: ast.AST) -> tuple[str, str] | None:
    """Return ("Model", "status") for `Model.status`, ("?", "status") for `row.status`."""
    if isinstance(node, ast.Attribute) and node.attr in STATE_NAMES:
        model = node.value.id if isinstance(node.value, ast.Name) else "?"
        return (model if model in MODELS else "?", node.attr)
    return None


def _model_of_update(call: ast.Call) -> str:
    """Return the model of `update(Model)...values(...)` or `Model(...)`, else "?"."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in MODELS:
        return func.id
    node: ast.AST = func
    while isinstance(node, ast.Attribute | ast.Call):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id == "update" and node.args \
                    and isinstance(node.args[0], ast.Name) and node.args[0].id in MODELS:
                return node.args[0].id
            node = node.func
        else:
            node = node.value
    return "?"


def state_literals(tree: ast.AST) -> list[tuple[int, str, str, str]]:
    """Return (line, model or "?", column, value) for every bare string used as a state."""
    found: list[tuple[int, str, str, str]] = []

    def add(line: int, column: tuple[str, str], values: list[str]) -> None:
        found.extend((line, column[0], column[1], v) for v in values)

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            for side in sides:
                column = _column(side)
                if column:
                    for other in sides:
                        add(node.lineno, column, _strings(other))
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("in_", "not_in"):
                column = _column(func.value)
                if column:
                    add(node.lineno, column, [v for a in node.args for v in _strings(a)])
            model = _model_of_update(node)
            for keyword in node.keywords:
                if keyword.arg in STATE_NAMES:
                    add(node.lineno, (model, keyword.arg), _strings(keyword.value))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                column = _column(target)
                if column:
                    add(node.lineno, column, _strings(node.value))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in STATE_NAMES and value:
                    add(node.lineno, ("?", str(key.value)), _strings(value))
    return found


def _sources() -> list[Path]:
    return sorted(p for folder in ("bot", "scheduler") for p in (REPO / folder).rglob("*.py")
                  if "migrations" not in p.parts)


def _members(column: tuple[str, str]) -> set[str]:
    if column[0] != "?":
        return {str(m) for m in COLUMNS[column]}
    return {str(m) for (_, key), enum in COLUMNS.items() if key == column[1] for m in enum}


def test_the_scan_finds_bare_states_and_misspellings():
    tree = ast.parse('run.status = "active"\nq = Outbox.state.in_(("pending", "canceled"))\n'
                     'update(Nudge).where(x).values(status="sent")\nx = {"state": "held"}\n')
    assert sorted(state_literals(tree)) == [
        (1, "?", "status", "active"), (2, "Outbox", "state", "canceled"),
        (2, "Outbox", "state", "pending"), (3, "Nudge", "status", "sent"),
        (4, "?", "state", "held")]
    assert "canceled" not in _members(("Outbox", "state"))


def test_every_state_written_or_compared_is_a_member_of_its_columns_enum():
    wrong = [f"{path.relative_to(REPO)}:{line}: {model}.{key} = {value!r}"
             for path in _sources() if str(path.relative_to(REPO)) not in NOT_COLUMNS
             for line, model, key, value in state_literals(ast.parse(path.read_text()))
             if value not in _members((model, key))]
    assert not wrong, "\n".join(wrong)


def test_states_are_named_by_their_enum_outside_the_modules_still_to_switch():
    bare = [f"{rel}:{line}: {value!r}" for path in _sources()
            if (rel := str(path.relative_to(REPO))) not in PENDING_SWITCH | NOT_COLUMNS
            for line, _, _, value in state_literals(ast.parse(path.read_text()))]
    assert not bare, "name these by their StrEnum member:\n" + "\n".join(bare)


@pytest.mark.parametrize(("model", "key"), sorted(COLUMNS))
def test_column_defaults_are_members(model, key):
    default = MODELS[model].__table__.c[key].default
    if default is not None:
        assert default.arg in {str(m) for m in COLUMNS[(model, key)]}


def test_rows_written_through_the_webhook_and_the_jobs_hold_only_enum_values(
        sms, services, people, clock):
    for text in ("checkin", "about a 9", "yes", "checkin", "STOP", "START", "checkin"):
        sms.send(PARTICIPANT_PHONE, text)
    sms.send(COACH_PHONE, "QUEUE")
    for _ in range(3):  # timeouts fire, runs expire, drafts expire, the outbox drains
        clock.advance(timedelta(days=1))
        run_all(services, clock.now())
    with services.db.session() as session:
        written = set()
        for (model, key), enum in COLUMNS.items():
            stored = set(session.scalars(select(getattr(MODELS[model], key)).distinct()))
            assert stored - {None} <= {str(m) for m in enum}, (model, key, stored)
            written |= {model} if stored - {None} else set()
    assert written >= {"Run", "Nudge", "Participant", "Outbox", "Message"}  # not vacuous
