"""Loading YAML with positions: plain data plus a map from node path to line and column.

Owns YAML syntax errors (as Diagnostics with the parser's own position) and the
conversion of ruamel's round-trip nodes into plain Python values. Nothing past this
module sees a ruamel type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from reqflo.conversion import MAX_VALUE_DEPTH
from reqflo.diagnostics import Diagnostic, Position

PathKey = tuple[str | int, ...]
MAX_EXACT_INT = 2**53 - 1  # the largest integer a JSON number carries exactly


@dataclass
class SourceMap:
    """Positions (1-based) of every key and value, by path from the document root."""

    keys: dict[PathKey, Position] = field(default_factory=dict)
    values: dict[PathKey, Position] = field(default_factory=dict)

    def value(self, path: PathKey) -> Position | None:
        """The value's position, else the nearest enclosing node's."""
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end]) or self.keys.get(path[:end])
            if found:
                return found
        return None

    def key(self, path: PathKey) -> Position | None:
        return self.keys.get(path) or self.value(path)


@dataclass(frozen=True)
class LoadedSource:
    file: str
    text: str
    data: Any
    positions: SourceMap
    problems: tuple[Diagnostic, ...] = ()


def load_yaml(text: str, file: str) -> LoadedSource:
    """Parse YAML text; syntax problems come back as diagnostics, never as exceptions."""
    yaml = YAML(typ="rt", pure=True)
    try:
        document = yaml.load(text)
    except DuplicateKeyError as exc:
        return _failed(text, file, "duplicate-key", exc, "each key may appear once in a mapping")
    except MarkedYAMLError as exc:
        return _failed(text, file, "yaml-syntax", exc, _syntax_hint(exc))
    except (YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        diag = Diagnostic("yaml-syntax", f"invalid YAML: {exc}", file, Position(1, 1))
        return LoadedSource(file, text, None, SourceMap(), (diag,))
    except Exception as exc:  # ruamel constructors can fail in odd ways
        diag = Diagnostic(
            "yaml-syntax",
            f"the YAML parser could not read this value ({type(exc).__name__})",
            file,
            _failing_node(exc),
            "quote unusual plain values, e.g. '-_'",
        )
        return LoadedSource(file, text, None, SourceMap(), (diag,))
    positions = SourceMap()
    try:
        data = _plain(document, (), positions, set())
    except _TooDeep as exc:
        diag = Diagnostic("yaml-structure", str(exc), file, positions.value(exc.path))
        return LoadedSource(file, text, None, positions, (diag,))
    except _TooLarge as exc:
        hint = f"integers go up to ±{MAX_EXACT_INT:,}; quote a larger one to send it as text"
        diag = Diagnostic("number-range", str(exc), file, positions.value(exc.path), hint)
        return LoadedSource(file, text, None, positions, (diag,))
    return LoadedSource(file, text, data, positions)


def _failing_node(exc: BaseException) -> Position:
    """Where ruamel was constructing when it failed: the innermost frame's `node` mark."""
    found = Position(1, 1)
    tb = exc.__traceback__
    while tb is not None:
        mark = getattr(tb.tb_frame.f_locals.get("node"), "start_mark", None)
        if mark is not None:
            found = Position(mark.line + 1, mark.column + 1)
        tb = tb.tb_next
    return found


def _failed(text: str, file: str, code: str, exc: MarkedYAMLError, hint: str) -> LoadedSource:
    mark = exc.problem_mark or exc.context_mark
    position = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
    problem = exc.problem or exc.context or "invalid YAML"
    message = f"{problem.strip()}" if code == "yaml-syntax" else _duplicate_message(exc)
    diag = Diagnostic(code, message, file, position, hint)
    return LoadedSource(file, text, None, SourceMap(), (diag,))


def _duplicate_message(exc: MarkedYAMLError) -> str:
    problem = (exc.problem or "").strip()
    return problem.replace("found duplicate key", "duplicate key") or "duplicate key"


def _syntax_hint(exc: MarkedYAMLError) -> str:
    problem = (exc.problem or "").lower()
    if "tab" in problem or "'\\t'" in problem:
        return "YAML indentation uses spaces, never tabs"
    if "mapping values are not allowed" in problem:
        return "quote a value that contains ': ', or fix the indentation above"
    if "could not find expected ':'" in problem:
        return "a key needs a ':' after it; check the indentation of this line"
    return "check the indentation and quoting around this position"


class _TooDeep(ValueError):
    def __init__(self, message: str, path: PathKey) -> None:
        super().__init__(message)
        self.path = path


class _TooLarge(ValueError):
    """An integer JSON cannot carry exactly (RFC 8785, which hashes the artifact, refuses
    it): every JSON reader would round it."""

    def __init__(self, path: PathKey) -> None:
        super().__init__("this integer is too large for JSON to carry exactly")
        self.path = path


def _plain(node: Any, path: PathKey, positions: SourceMap, active: set[int]) -> Any:
    if isinstance(node, CommentedMap | CommentedSeq | Mapping | list):
        return _container(node, path, positions, active)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        if abs(node) > MAX_EXACT_INT:
            raise _TooLarge(path)
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, dt.date | dt.datetime):
        return node.isoformat()
    if isinstance(node, bytes):
        return node.decode("utf-8", errors="replace")
    return _text(str(node))


def _text(value: str) -> str:
    """Text as Python can encode it: escaped surrogate pairs joined, lone ones replaced."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _container(node: Any, path: PathKey, positions: SourceMap, active: set[int]) -> Any:
    if len(path) > MAX_VALUE_DEPTH or id(node) in active:
        raise _TooDeep("the document nests too deeply or refers to itself", path)
    active.add(id(node))
    try:
        if isinstance(node, Mapping):
            return _mapping(node, path, positions, active)
        return _sequence(node, path, positions, active)
    finally:
        active.discard(id(node))


def _mapping(node: Any, path: PathKey, positions: SourceMap, active: set[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = _plain(key, path, positions, active) if not isinstance(key, str) else key
        name = _text(name) if isinstance(name, str) else str(name)
        child = (*path, name)
        _record(node, key, child, positions)
        out[name] = _plain(value, child, positions, active)
    return out


def _sequence(node: Any, path: PathKey, positions: SourceMap, active: set[int]) -> list[Any]:
    out = []
    for index, value in enumerate(node):
        child = (*path, index)
        if isinstance(node, CommentedSeq):
            _set(positions.values, child, _lc(node.lc.item, index))
        out.append(_plain(value, child, positions, active))
    return out


def _record(node: Any, key: Any, child: PathKey, positions: SourceMap) -> None:
    if isinstance(node, CommentedMap):
        _set(positions.keys, child, _lc(node.lc.key, key))
        _set(positions.values, child, _lc(node.lc.value, key))


def _lc(getter: Any, key: Any) -> tuple[int, int] | None:
    try:
        line, col = getter(key)
    except (KeyError, TypeError, IndexError, AttributeError):
        return None
    return (line, col) if isinstance(line, int) and isinstance(col, int) else None


def _set(target: dict[PathKey, Position], path: PathKey, lc: tuple[int, int] | None) -> None:
    if lc is not None:
        target[path] = Position(lc[0] + 1, lc[1] + 1)
