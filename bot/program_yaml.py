"""Read program files safely with line numbers, and check their fields (for bot.program_files)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError, meta
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.flows.templates import LENIENT as _LENIENT
from bot.flows.templates import STRICT

MAX_TEXT = 320
SCOPE = frozenset({"participant", "coach", "program"})
FAILED = object()  # what load_yaml returns for a file it could not read
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in
                        ("str", "int", "float", "bool", "null", "map", "seq"))
# long names, to measure the worst case length of a text
_SAMPLE = {"participant": {"first_name": "Christopher"}, "coach": {"first_name": "Alexander"},
           "program": {"name": "PeerLine"}}


class Report:
    """Collect `FILE:LINE: message` problems for one file."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path, self.problems = path, problems

    def add(self, line: int, message: str) -> None:
        self.problems.append(f"{self.path}:{max(line, 1)}: {message}")


def key_line(node: Any, key: Any) -> int:
    """Return the 1-based line of `key` in a mapping (else the mapping's line)."""
    try:
        return int(node.lc.key(key)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        return node_line(node)


def item_line(node: Any, index: int) -> int:
    """Return the 1-based line of item `index` of a list (else the list's line)."""
    try:
        return int(node.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return node_line(node)


def node_line(node: Any) -> int:
    """Return the 1-based line where a mapping or list starts."""
    return int(node.lc.line) + 1 if hasattr(node, "lc") and node.lc.line is not None else 1


def hint(word: str, known: Iterable[str]) -> str:
    """Return " (did you mean 'x'?)" for a close match, else ""."""
    close = difflib.get_close_matches(str(word), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_yaml(path: Path, report: Report) -> Any:
    """Parse `path` safely (no tags), keeping line numbers; FAILED after reporting a problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.add(1, f"cannot read the file: {exc}")
        return FAILED
    last_line = max(text.count("\n"), 1)
    yaml = YAML(typ="rt", pure=True)
    try:
        bad = [n for n in _nodes(yaml.compose(text)) if str(n.tag) not in _PLAIN_TAGS]
        for node in bad:
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            report.add(node.start_mark.line + 1, f"YAML tags like {tag} are not allowed")
        return yaml.load(text) if not bad else FAILED
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = min(mark.line + 1, last_line) if mark else 1
        report.add(line, f"YAML syntax: {exc.problem or exc.context}")
    except YAMLError as exc:
        report.add(1, f"YAML syntax: {exc}")
    return FAILED


def _nodes(node: Any) -> Iterable[Any]:
    if node is None:
        return
    yield node
    if isinstance(node.value, list):
        for item in node.value:
            for part in item if isinstance(item, tuple) else (item,):
                yield from _nodes(part)


def check_mapping(data: Any, report: Report, line: int, what: str, keys: Sequence[str]) -> bool:
    """Report a non-mapping or unknown keys (with a hint); return whether `data` is a mapping."""
    if not isinstance(data, CommentedMap):
        report.add(line, f"{what} must be a set of `key: value` lines")
        return False
    for key in data:
        if key not in keys:
            report.add(key_line(data, key),
                       f"unknown key {key!r} in {what}{hint(str(key), keys)}; "
                       f"allowed: {', '.join(keys)}")
    return True


def text_field(data: CommentedMap, key: str, report: Report, what: str, *, required: bool = True,
          one_line: bool = False, max_len: int = MAX_TEXT) -> str:
    value = data.get(key)
    line = key_line(data, key) if key in data else node_line(data)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            report.add(line, f"{what} needs a `{key}`")
        return ""
    if not isinstance(value, str):
        report.add(line, f"`{key}` of {what} must be text, not {type(value).__name__}")
        return ""
    if one_line and "\n" in value.strip():
        report.add(line, f"`{key}` of {what} must be one line")
    if len(value) > max_len:
        report.add(line, f"`{key}` of {what} is {len(value)} characters; keep it to {max_len}")
    return value.strip()


def check_template(text: str, line: int, report: Report, what: str) -> None:
    """Report a template that does not compile, uses unknown names, or renders too long."""
    try:
        ast = STRICT.parse(text)
    except TemplateSyntaxError as exc:
        report.add(line, f"{what}: template error: {exc.message}")
        return
    unknown = sorted(meta.find_undeclared_variables(ast) - SCOPE)
    if unknown:
        report.add(line, f"{what}: unknown variable {unknown[0]!r}; only "
                         f"{', '.join(sorted(SCOPE))} can be used here")
        return
    try:
        length = len(_LENIENT.from_string(text).render(**_SAMPLE))
    except Exception as exc:  # any render failure is a problem staff must see
        report.add(line, f"{what}: template error: {exc}")
        return
    if length > MAX_TEXT:
        report.add(line, f"{what} is about {length} characters once names are filled in; "
                         f"keep texts to {MAX_TEXT} (most under 160)")


def texts_field(data: CommentedMap, key: str, report: Report, what: str, minimum: int) -> list[str]:
    value = data.get(key)
    line = key_line(data, key)
    if not isinstance(value, CommentedSeq) or not value:
        report.add(line, f"`{key}` of {what} must be a list of at least {minimum} texts")
        return []
    out: list[str] = []
    for i, item in enumerate(value):
        at = item_line(value, i)
        if not isinstance(item, str) or not item.strip():
            report.add(at, f"{what}: text {i + 1} must be non-empty text")
            continue
        if item.strip() in out:
            report.add(at, f"{what}: text {i + 1} repeats an earlier text")
            continue
        check_template(item, at, report, f"{what}: text {i + 1}")
        out.append(item.strip())
    if len(value) < minimum:
        report.add(line, f"{what} has {len(value)} texts in `{key}`; it needs at least {minimum} "
                         "so the same text is never sent twice in a row")
    return out


def top_list(data: Any, key: str, path: Path, report: Report) -> CommentedSeq | None:
    """Return the top-level list under `key`, reporting a wrong shape."""
    if data is FAILED:
        return None
    if data is None:
        report.add(1, f"the file is empty; it needs a `{key}:` list")
        return None
    if not check_mapping(data, report, 1, path.name, [key]):
        return None
    items = data.get(key)
    if not isinstance(items, CommentedSeq):
        report.add(key_line(data, key) if key in data else 1, f"`{key}:` must be a list of items "
                   "each starting with `- id:`")
        return None
    return items
