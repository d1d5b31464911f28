"""Check the attributes templates read: `{{ participant.frist_name }}` is an error, not a blank.

Rules: `participant`, `coach` and `program` are known sets of attributes
(what bot.runtime.context_for gives a template); a participant also has
every field some flow saves with `save: participant.NAME`, and anything
under `participant.fields`. Every unknown attribute is one FILE:LINE problem
with a "did you mean" hint. Checked across all flows of a folder, because
one flow may read a field another flow saves.
"""

from __future__ import annotations

from collections.abc import Iterable

from jinja2 import nodes

from bot.flows.model import Flow, Problem
from bot.flows.templates import STRICT, TemplateProblem, _parse
from bot.flows.validate import _templates
from bot.flows.yamlio import hint

ATTRIBUTES: dict[str, frozenset[str]] = {  # bot.runtime.context gives exactly these (tested)
    "participant": frozenset({"id", "name", "first_name", "timezone", "strategies", "fields",
                              "status", "week", "weeks", "baseline", "goal",
                              "missed_checkins"}),
    "coach": frozenset({"id", "name", "first_name"}),
    "program": frozenset({"name", "contact", "care_team_contact", "texts_per_week",
                          "hard_week_points", "hard_week_percent"}),
}


def attributes_read(tree: nodes.Node) -> Iterable[tuple[str, str]]:
    """Yield (object, attribute) for each `participant.x` / `coach["x"]` in a parsed template."""
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        base = getattr(node, "node", None)
        if not isinstance(base, nodes.Name) or base.name not in ATTRIBUTES:
            continue
        if isinstance(node, nodes.Getattr):
            yield base.name, node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
                and isinstance(node.arg.value, str):
            yield base.name, node.arg.value


def participant_fields(flows: Iterable[Flow]) -> frozenset[str]:
    """Return the participant fields the flows save (`save: participant.NAME`)."""
    return frozenset(step.save.split(".", 1)[1] for flow in flows for step in flow.steps.values()
                     if step.save and step.save.startswith("participant."))


def _sources(flow: Flow) -> Iterable[tuple[str, nodes.Node, int]]:
    """Yield (what, parsed tree, line) for every template and `when` of `flow`."""
    for step in flow.steps.values():
        for what, source, line in _templates(step):
            try:
                yield what, _parse(source), line
            except TemplateProblem:
                continue  # reported by validate_flow as a bad template
        for branch in step.next:
            if branch.when is None:
                continue
            try:
                yield "when", STRICT.parse("{{ (" + branch.when + ") }}"), branch.line
            except Exception:  # noqa: BLE001 - reported by validate_flow as a bad expression
                continue


def attribute_problems(flows: list[Flow]) -> list[Problem]:
    """Return one problem per unknown attribute read by a template or `when`, with a hint."""
    known = dict(ATTRIBUTES)
    known["participant"] = known["participant"] | participant_fields(flows)
    out: list[Problem] = []
    for flow in flows:
        for what, tree, line in _sources(flow):
            for name, attribute in dict.fromkeys(attributes_read(tree)):
                if attribute in known[name]:
                    continue
                suggestion = hint(attribute, known[name])
                if not suggestion:
                    suggestion = f"; {name} has: {', '.join(sorted(known[name]))}"
                out.append(Problem(flow.path, line, f"{what} uses '{name}.{attribute}', but "
                                                    f"{name} has no '{attribute}'{suggestion}"))
    return out
