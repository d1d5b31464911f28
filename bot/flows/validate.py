"""Check a flow's meaning: steps, reachability, templates, variables; and across files."""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Iterable

from jinja2 import nodes

from bot.flows.braces import locate
from bot.flows.model import PROVIDED, Flow, Problem, Step
from bot.flows.templates import STRICT, TemplateProblem, expression_names, template_names
from bot.flows.yamlio import hint


def _saved_name(step: Step) -> str | None:
    """Return the flow variable a step saves (participant.* fields are not flow variables)."""
    if step.save and not step.save.startswith("participant."):
        return step.save
    return None


def reachable(flow: Flow, aliases: dict[str, str] | None = None) -> set[str]:
    """Return the ids of the steps reachable from `start` (a typo'd target read via `aliases`)."""
    if flow.start not in flow.steps:
        return set()
    seen = {flow.start}
    queue = deque([flow.start])
    while queue:
        for _kind, target, _line in flow.steps[queue.popleft()].targets():
            target = (aliases or {}).get(target, target)
            if target in flow.steps and target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def defined_on_entry(flow: Flow) -> dict[str, frozenset[str]]:
    """Return, per reachable step, the variables saved on every path from `start` to it."""
    if flow.start not in flow.steps:
        return {}
    entry: dict[str, frozenset[str]] = {flow.start: frozenset()}
    queue = deque([flow.start])
    while queue:
        step = flow.steps[queue.popleft()]
        before = entry[step.id]
        saved = _saved_name(step)
        for kind, target, _line in step.targets():
            if target not in flow.steps:
                continue
            out = before | {saved} if kind == "next" and saved else before
            old = entry.get(target)
            new = out if old is None else old & out
            if target == flow.start:
                new = frozenset()
            if new != old:
                entry[target] = new
                queue.append(target)
    return entry


def _templates(step: Step) -> Iterable[tuple[str, str, int]]:
    """Yield (what, source, line) for each template a step renders before its reply."""
    for text in step.say:
        yield "say", text, step.line_of("say")
    for key in ("invalid", "notify_coach", "escalate"):
        value = getattr(step, key)
        if value:
            yield key, value, step.line_of(key)
    if step.nudge is not None:
        yield "nudge say", step.nudge.say, step.line_of("nudge")


COACH_TEXTS = ("notify_coach", "escalate")  # texted to a coach's phone: the minimum only


def _free_text_answers(flow: Flow) -> dict[str, str]:
    """Return {variable: step id} for the variables saved from free-text replies."""
    return {name: step.id for step in flow.steps.values()
            if step.expect is not None and step.expect.type == "text"
            and (name := _saved_name(step))}


def _check_names(flow: Flow, step: Step, names: set[str], scope: frozenset[str], line: int,
                 what: str, out: list[Problem]) -> None:
    everywhere = {s for st in flow.steps.values() if (s := _saved_name(st))}
    for name in sorted(names - scope - PROVIDED):
        if name in everywhere:
            message = (f"{what} uses '{name}', which is not saved on every path to step "
                       f"'{step.id}'")
        else:
            known = everywhere | PROVIDED
            message = f"{what} uses undefined variable '{name}'{hint(name, known)}"
        out.append(Problem(flow.path, line, message))


def _choice_answers(flow: Flow) -> dict[str, Step]:
    """Return {variable: step} for the variables only ever saved from choice replies."""
    kinds: dict[str, set[str]] = {}
    steps: dict[str, Step] = {}
    for step in flow.steps.values():
        if step.expect is not None and (name := _saved_name(step)):
            kinds.setdefault(name, set()).add(step.expect.type)
            steps.setdefault(name, step)
    return {name: steps[name] for name, found in kinds.items() if found == {"choice"}}


def _numbers(node: nodes.Node) -> list[float]:
    """Return the number constants `node` is (or, for a list or tuple, holds)."""
    items = node.items if isinstance(node, nodes.List | nodes.Tuple) else [node]
    return [item.value for item in items if isinstance(item, nodes.Const)
            and isinstance(item.value, int | float) and not isinstance(item.value, bool)]


def _choice_vs_number(expression: str, choices: dict[str, Step]) -> Iterable[tuple[str, float]]:
    """Yield (variable, number) for each comparison of a choice answer with a bare number.

    A choice answer is the option's name as text ("1", not 1), so such a test is never true.
    """
    tree = STRICT.parse("{{ (" + expression + ") }}")
    for compare in tree.find_all(nodes.Compare):
        left = compare.expr
        for operand in compare.ops:
            for a, b in ((left, operand.expr), (operand.expr, left)):
                if isinstance(a, nodes.Name) and a.name in choices:
                    for number in _numbers(b):
                        yield a.name, number
            left = operand.expr


def _choice_problem(name: str, number: float, step: Step) -> str:
    assert step.expect is not None
    values = [value for value, _ in step.expect.options]
    text = f"{number:g}" if f"{number:g}" in values else (values[0] if values else "")
    shown = ", ".join(repr(v) for v in values[:4]) + (", ..." if len(values) > 4 else "")
    if step.expect.multiple:
        saved, fix = "a list of the options' names", f'"{text}" in {name}'
    else:
        saved, fix = "the option's name", f'{name} == "{text}"'
    return (f"when compares '{name}' with the number {number:g}, but step '{step.id}' saves "
            f"{saved} as text ({shown}), so this is never true; put the number in quotes: {fix}")


def validate_flow(flow: Flow) -> list[Problem]:
    """Return the problems of one structurally loaded flow."""
    out: list[Problem] = []
    if flow.start and flow.start not in flow.steps:
        out.append(Problem(flow.path, flow.line_of("start"), f"start step '{flow.start}' "
                           f"does not exist{hint(flow.start, flow.steps)}"))
    aliases: dict[str, str] = {}  # a typo'd target -> the step it most likely means
    for step in flow.steps.values():
        for kind, target, line in step.targets():
            if target not in flow.steps:
                close = difflib.get_close_matches(target, sorted(flow.steps), n=1, cutoff=0.6)
                if close:
                    aliases[target] = close[0]
                out.append(Problem(flow.path, line,
                                   f"{kind} goes to unknown step '{target}'"
                                   f"{hint(target, flow.steps)}"))
    live = reachable(flow)
    if flow.start in flow.steps:
        # Steps only cut off by a typo'd target are that typo's follow-on: not reported again.
        intended = reachable(flow, aliases) if aliases else live
        for step in flow.steps.values():
            if step.id not in intended:
                out.append(Problem(flow.path, step.line,
                                   f"step '{step.id}' is unreachable from start '{flow.start}'"))
    entry = defined_on_entry(flow)
    free_text = _free_text_answers(flow)
    choices = _choice_answers(flow)
    for step in flow.steps.values():
        scope = entry.get(step.id, frozenset())
        for what, source, line in _templates(step):
            try:
                names = template_names(source)
            except TemplateProblem as exc:
                at, why = locate(flow.path, line, source, str(exc))
                out.append(Problem(flow.path, at, f"bad template in {what}: {why}"))
                continue
            for name in sorted(names & free_text.keys() if what in COACH_TEXTS else set()):
                out.append(Problem(flow.path, line, (
                    f"{what} would text the coach '{name}', the veteran's own words (a text "
                    f"reply saved at step '{free_text[name]}'); say what it is about instead, "
                    "the coach reads the words on the dashboard")))
            if step.id in entry:
                _check_names(flow, step, names, scope, line, what, out)
        after = scope | {s} if (s := _saved_name(step)) else scope
        for branch in step.next:
            if branch.when is None:
                continue
            try:
                names = expression_names(branch.when)
            except TemplateProblem as exc:
                out.append(Problem(flow.path, branch.line,
                                   f"bad expression {branch.when!r}: {exc}"))
                continue
            if step.id in entry:
                _check_names(flow, step, names, after, branch.line, "when", out)
            for name, number in dict.fromkeys(_choice_vs_number(branch.when, choices)):
                out.append(Problem(flow.path, branch.line,
                                   _choice_problem(name, number, choices[name])))
    return out


def cross_check(flows: list[Flow]) -> list[Problem]:
    """Return problems between files: duplicate ids and keywords, unknown start_flow targets."""
    out: list[Problem] = []
    by_id: dict[str, Flow] = {}
    by_keyword: dict[str, Flow] = {}
    for flow in sorted(flows, key=lambda f: f.path):
        first = by_id.setdefault(flow.id, flow)
        if first is not flow:
            out.append(Problem(flow.path, flow.line_of("id"),
                               f"duplicate flow id '{flow.id}' (also in {first.path})"))
        for word in flow.keywords:
            owner = by_keyword.setdefault(word, flow)
            if owner is not flow:
                out.append(Problem(flow.path, flow.line_of(f"keyword:{word}"),
                                   f"duplicate keyword {word} (also a keyword of flow "
                                   f"'{owner.id}' in {owner.path})"))
    for flow in flows:
        for step in flow.steps.values():
            target = step.start_flow
            if target is not None and target not in by_id:
                out.append(Problem(flow.path, step.line_of("start_flow"),
                                   f"start_flow names unknown flow '{target}'"
                                   f"{hint(target, by_id)}"))
    return out
