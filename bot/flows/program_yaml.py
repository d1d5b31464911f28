"""Read program files safely with line numbers, and check their fields (for program_files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError, meta
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.flows import yamlio
from bot.flows.templates import LENIENT as _LENIENT
from bot.flows.templates import STRICT
from bot.flows.yamlio import Report, hint, item_line, key_line, node_line

MAX_TEXT = 320
SCOPE = frozenset({"participant", "coach", "program"})
FAILED = object()  # what load_yaml returns for a file it could not read
# long names, to measure the worst case length of a text
_SAMPLE = {"participant": {"first_name": "Christopher"}, "coach": {"first_name": "Alexander"},
           "program": {"name": "PeerLine"}}


def load_yaml(path: Path, report: Report) -> Any:
    """Parse `path` safely (no tags), keeping line numbers; FAILED after reporting a problem."""
    before = len(report.problems)
    data = yamlio.load_yaml(path, report)
    return FAILED if len(report.problems) > before else data


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
