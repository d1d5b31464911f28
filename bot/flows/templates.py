"""Jinja2 templates and `when` expressions, compiled and run only in the sandbox.

Rules: the sandbox is bounded. `**`, `*` and `%` go through `call_binop`,
which refuses a result over MAX_INT_BITS bits or MAX_ITEMS characters or
items before computing it, and ranges hold at most MAX_ITEMS numbers; so a
template like `{{ 9**10000000 }}` costs microseconds, not seconds, and is
never folded into a constant at compile time. `check_bounds` finds such a
constant at load time, so `flows check` refuses the file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from bot.flows.hard_week import hard_week

MAX_INT_BITS = 4096  # ~1200 digits: more than any text needs
MAX_ITEMS = 10_000  # characters of a repeated text, items of a list or range
_WIDTH = re.compile(r"%[-+ #0]*(\d{5,}|\*)|%[-+ #0]*\d*\.(\d{5,}|\*)")


def _bits(value: Any) -> float:
    return abs(value).bit_length() if isinstance(value, int) else 0.0


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Raise SecurityError if `left operator right` would be huge; computes nothing big."""
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "**" and ints and right > 0 and abs(left) > 1 \
            and right * math.log2(abs(left)) > MAX_INT_BITS:
        raise SecurityError(f"the number {left}**{right} is too large")
    if operator == "*":
        if ints and _bits(left) + _bits(right) > MAX_INT_BITS:
            raise SecurityError("the product is too large")
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int) \
                    and len(seq) * count > MAX_ITEMS:
                raise SecurityError(f"repeating it {count} times makes a text or list longer "
                                    f"than {MAX_ITEMS}")
    if operator == "%" and isinstance(left, str) and _WIDTH.search(left):
        raise SecurityError("a % format with a width or precision of 5 digits or more")


def _bounded_range(*args: int) -> range:
    found = range(*args)
    if len(found) > MAX_ITEMS:
        raise SecurityError(f"range() of more than {MAX_ITEMS} numbers")
    return found


class BoundedSandbox(SandboxedEnvironment):
    """The sandbox with `**`, `*` and `%` checked for size before they run."""

    intercepted_binops = frozenset({"**", "*", "%"})

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.globals["range"] = _bounded_range

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Run a binary operator unless its result would be huge."""
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)


STRICT = BoundedSandbox(undefined=StrictUndefined, autoescape=False)
LENIENT = BoundedSandbox(undefined=Undefined, autoescape=False)

for _env in (STRICT, LENIENT):  # functions flows may call (each documented in docs/flows.md)
    _env.globals["hard_week"] = hard_week
GLOBALS = frozenset(STRICT.globals)
_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_BLOCK = re.compile(r"\{%.*?%\}|\{#.*?#\}", re.DOTALL)


class TemplateProblem(ValueError):
    """A template or expression does not compile; str() says why."""


_NO_ATTRIBUTE = re.compile(r"'[\w ]+ object' has no attribute '(\w+)'")
_UNDEFINED = re.compile(r"'(\w+)' is undefined")


def plain_error(exc: Exception) -> str:
    """Say a render error in staff's words, not Jinja's ('dict object' has no attribute)."""
    text = str(exc)
    text = _NO_ATTRIBUTE.sub(r"'\1' has no value here (not saved yet, or misspelled)", text)
    return _UNDEFINED.sub(r"'\1' has no value here (not saved on this path, or misspelled)",
                          text)


def _describe(exc: TemplateError) -> str:
    line = getattr(exc, "lineno", None)
    text = getattr(exc, "message", None) or str(exc)
    return f"{text} (template line {line})" if line and line > 1 else str(text)


@lru_cache(maxsize=4096)
def _parse(source: str) -> nodes.Template:
    try:
        return STRICT.parse(source)
    except TemplateError as exc:
        raise TemplateProblem(_describe(exc)) from None


def template_names(source: str) -> set[str]:
    """Return the variables `source` reads; raise TemplateProblem if it does not compile."""
    tree = _parse(source)
    check_bounds(tree)
    return set(meta.find_undeclared_variables(tree)) - GLOBALS


def _constant(node: nodes.Node) -> Any:
    """Return the value of a constant expression, checking each operator's size first."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.Neg | nodes.Pos):
        value = _constant(node.node)
        return -value if isinstance(node, nodes.Neg) else value
    if isinstance(node, nodes.List | nodes.Tuple):
        return [_constant(item) for item in node.items]
    if isinstance(node, nodes.BinExpr):
        left, right = _constant(node.left), _constant(node.right)
        _check_binop(node.operator, left, right)
        return STRICT.binop_table[node.operator](left, right)
    raise nodes.Impossible()


def check_bounds(tree: nodes.Node) -> None:
    """Raise TemplateProblem if a constant part of `tree` computes something huge."""
    for node in tree.find_all(nodes.BinExpr):
        try:
            _constant(node)
        except SecurityError as exc:
            raise TemplateProblem(f"{exc}; templates may not compute huge numbers or "
                                  "texts") from None
        except Exception:  # noqa: BLE001 - not constant, or an error the render reports
            continue


def expression_names(source: str) -> set[str]:
    """Return the variables expression `source` reads; raise TemplateProblem if it is bad."""
    try:
        check_bounds(STRICT.parse("{{ (" + source + ") }}"))
        STRICT.compile_expression(source)
    except TemplateError as exc:
        raise TemplateProblem(_describe(exc)) from None
    return template_names("{{ (" + source + ") }}")


@lru_cache(maxsize=4096)
def compiled_template(source: str, strict: bool = True) -> Any:
    """Return `source` compiled once in the sandbox (strict: undefined names raise)."""
    return (STRICT if strict else LENIENT).from_string(source)


def render(source: str, scope: Mapping[str, Any]) -> tuple[str, str | None]:
    """Render `source`; on an error render leniently and return (text, error message)."""
    try:
        return compiled_template(source, True).render(scope).strip(), None
    except Exception as exc:  # a bad template must never stop a conversation
        error = f"template error: {plain_error(exc)}"
    try:
        return compiled_template(source, False).render(scope).strip(), error
    except Exception:
        return _salvage(source, scope), error


def _salvage(source: str, scope: Mapping[str, Any]) -> str:
    """Render each `{{ }}` alone, dropping those that fail and every `{% %}`: never the source."""
    def one(match: re.Match[str]) -> str:
        try:
            return str(compiled_template(match.group(0), False).render(scope))
        except Exception:
            return ""
    text = _EXPRESSION.sub(one, _BLOCK.sub("", source))
    return re.sub(r"[ \t]{2,}", " ", text).strip()


@lru_cache(maxsize=4096)
def _expression(source: str) -> Any:
    return STRICT.compile_expression(source)


def evaluate(source: str, scope: Mapping[str, Any]) -> tuple[bool, str | None]:
    """Evaluate `when` expression `source`; an error counts as false and is returned."""
    try:
        return bool(_expression(source)(**scope)), None
    except Exception as exc:
        return False, f"expression error in {source!r}: {plain_error(exc)}"
