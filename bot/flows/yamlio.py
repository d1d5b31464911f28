"""Read YAML safely, keeping the line of every key and item.

Invariants: no YAML tag ever constructs an object or runs code (the round-trip
loader builds only maps, lists and scalars, and any explicit tag is reported
as a problem); duplicate keys and syntax errors are problems with a line.
A document is bounded: at most MAX_ALIASES aliases (`*name`), at most
MAX_NODES values once every alias is expanded, nesting at most MAX_DEPTH
deep; an alias bomb is refused while it is read, in milliseconds, with the
line of the alias that went over. Any other failure of the parser is a
problem at line 1, never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode

from bot.flows.model import Problem

MAX_ALIASES = 100
MAX_NODES = 50_000
MAX_DEPTH = 50


class _BoundedComposer(Composer):
    """Compose nodes while counting aliases and the size the document has once expanded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        sizes: dict[int, int] = self.__dict__.setdefault("_sizes", {})
        mark = self.parser.peek_event().start_mark
        if self.parser.check_event(AliasEvent):
            count = self.__dict__["_aliases"] = self.__dict__.get("_aliases", 0) + 1
            if count > MAX_ALIASES:
                raise ComposerError(None, None, f"more than {MAX_ALIASES} aliases (*name); "
                                    "write the values out instead", mark)
        node = super().compose_node(parent, index)
        if id(node) in sizes:
            size = sizes[id(node)]
        elif isinstance(node, SequenceNode):
            size = 1 + sum(sizes.get(id(child), MAX_NODES + 1) for child in node.value)
        elif isinstance(node, MappingNode):
            size = 1 + sum(sizes.get(id(key), MAX_NODES + 1) + sizes.get(id(value), MAX_NODES + 1)
                           for key, value in node.value)
        else:
            size = 1
        if size > MAX_NODES:  # an alias bomb, or an alias inside its own anchor
            raise ComposerError(None, None, f"the aliases (*name) here expand to more than "
                                f"{MAX_NODES} values; write the values out instead", mark)
        sizes[id(node)] = size
        return node


class Report:
    """Collect the problems of one file."""

    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []

    def add(self, line: int, message: str) -> None:
        """Record a problem at `line` (1-based)."""
        self.problems.append(Problem(self.path, max(int(line), 1), message))


def key_line(mapping: Any, key: Any) -> int:
    """Return the 1-based line of `key` in a round-trip mapping (else the mapping's line)."""
    try:
        return int(mapping.lc.key(key)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        return node_line(mapping)


def item_line(seq: Any, index: int) -> int:
    """Return the 1-based line of item `index` in a round-trip list."""
    try:
        return int(seq.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return node_line(seq)


def node_line(node: Any) -> int:
    """Return the 1-based line where a map or list starts (1 if unknown)."""
    try:
        return int(node.lc.line) + 1
    except (AttributeError, TypeError):
        return 1


def _tag(node: Any) -> str | None:
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", tag) if tag is not None else None
    return value if isinstance(value, str) else None


def _check_tags(node: Any, line: int, report: Report, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    tag = _tag(node)
    if isinstance(node, TaggedScalar) or tag:
        shown = (tag or "!").replace("tag:yaml.org,2002:", "!!")
        report.add(line, f"YAML tags like {shown} are not allowed; write plain values")
        return
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            _check_tags(value, key_line(node, key), report, seen)
    elif isinstance(node, CommentedSeq):
        for index, value in enumerate(node):
            _check_tags(value, item_line(node, index), report, seen)


def load_yaml(path: Path, report: Report) -> Any:
    """Return the document in `path` (None on problems, which go to `report`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.add(1, f"cannot read the file: {exc}")
        return None
    return load_yaml_text(text, report)


def load_yaml_text(text: str, report: Report) -> Any:
    """Parse `text` safely; None (and problems) if it is not plain, valid YAML."""
    yaml = YAML(typ="rt", pure=True)
    yaml.Composer = _BoundedComposer
    yaml.max_depth = MAX_DEPTH
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.context_mark is not None and "<stream end>" in str(exc.problem):
            mark = exc.context_mark  # an unclosed bracket: point at where it opened
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or "invalid YAML"
        if "duplicate key" in what:
            report.add(line, f"{what}; each key may appear once")
        elif "'\\t'" in what:
            report.add(line, "invalid YAML: a tab is used to indent; indent with spaces "
                       "(two per level), never tabs")
        elif "expected <block end>" in what:
            report.add(line, "invalid YAML: the indentation is off; keys of the same level "
                       "must start in the same column (two spaces per level)")
        elif "mapping values are not allowed" in what:
            report.add(line, f"invalid YAML: {what}; put a text that contains \": \" in "
                       "double quotes")
        else:
            report.add(line, f"invalid YAML: {what}")
        return None
    except YAMLError as exc:
        report.add(1, f"invalid YAML: {exc}")
        return None
    except Exception as exc:  # noqa: BLE001 - a parser failure is a problem, never a traceback
        report.add(1, f"invalid YAML: the file could not be read as YAML ({type(exc).__name__})")
        return None
    before = len(report.problems)
    _check_tags(data, 1, report, set())
    return data if len(report.problems) == before else None


def hint(word: str, known: Iterable[str]) -> str:
    """Return ` (did you mean 'x'?)` for the closest known word, or ''."""
    close = difflib.get_close_matches(str(word), sorted(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_keys(mapping: Any, known: Iterable[str], where: str, report: Report) -> None:
    """Report every key of `mapping` that is not in `known`, with a hint."""
    known = set(known)
    for key in mapping:
        if key not in known:
            report.add(key_line(mapping, key),
                       f"unknown key '{key}' in {where}{hint(str(key), known)}")
