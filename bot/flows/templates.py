"""Jinja2 templates and `when` expressions, compiled and run only in the sandbox."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from bot.flows.hard_week import hard_week

STRICT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
LENIENT = SandboxedEnvironment(undefined=Undefined, autoescape=False)
for _env in (STRICT, LENIENT):  # functions flows may call (each documented in docs/flows.md)
    _env.globals["hard_week"] = hard_week
GLOBALS = frozenset(STRICT.globals)
_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_BLOCK = re.compile(r"\{%.*?%\}|\{#.*?#\}", re.DOTALL)


class TemplateProblem(ValueError):
    """A template or expression does not compile; str() says why."""


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
    return set(meta.find_undeclared_variables(_parse(source))) - GLOBALS


def expression_names(source: str) -> set[str]:
    """Return the variables expression `source` reads; raise TemplateProblem if it is bad."""
    try:
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
        error = f"template error: {exc}"
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
        return False, f"expression error in {source!r}: {exc}"
