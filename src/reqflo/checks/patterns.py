"""JSONPath queries, regular expressions and JSON Schemas: compiled once, judged, run.

Owns the lazy imports of python-jsonpath and jsonschema (most runs need neither: start-up),
the caches of compiled paths, patterns and schema validators, the static validation the
compiler reports (`validate_jsonpath`, `validate_regex`, `validate_json_schema`), which
regex group an output reads (`_group_of`) and JSONPath evaluation (`_find`), with simple
`$.a.b` paths evaluated directly (same nodes as python-jsonpath, see
tests/test_checks_properties.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from reqflo.checks.display import _clip_text, _json


def _jsonpath() -> Any:
    """python-jsonpath, imported on first use: simple paths never need it (start-up)."""
    import jsonpath

    return jsonpath


@lru_cache(maxsize=1024)
def _compiled_path(path: str) -> Any:
    return _jsonpath().compile(path, strict=True)


# `$` or `$.name.name…` with ASCII names: a singular RFC 9535 query of member-name
# shorthands, evaluated directly (same nodes as python-jsonpath, see test_checks_properties).
_SIMPLE_PATH = re.compile(r"\$(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


@lru_cache(maxsize=1024)
def _simple_names(path: str) -> tuple[str, ...] | None:
    """The member names of a simple path (`$.a.b` → ("a", "b")), None for any other."""
    if _SIMPLE_PATH.fullmatch(path) is None:
        return None
    return tuple(path.split(".")[1:])


def _simple_find(names: tuple[str, ...], data: Any) -> list[Any]:
    for name in names:
        if not isinstance(data, dict) or name not in data:
            return []
        data = data[name]
    return [data]


@lru_cache(maxsize=1024)
def _compiled_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_validators: dict[int, tuple[dict[str, Any], Any]] = {}


def _jsonschema() -> Any:
    """jsonschema, imported on first use: most runs never validate a schema (start-up)."""
    import jsonschema  # type: ignore[import-untyped,unused-ignore]

    return jsonschema


def _schema_validator(schema: dict[str, Any]) -> Any:
    """A validator per schema object (held, so its id cannot be reused while cached)."""
    cached = _validators.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    cls = _jsonschema().validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    if len(_validators) >= 256:
        _validators.clear()
    _validators[id(schema)] = (schema, validator)
    return validator


def validate_jsonpath(path: str) -> str | None:
    """None when `path` is a valid RFC 9535 JSONPath, else a one-line error."""
    if _simple_names(path) is not None:
        return None
    try:
        _compiled_path(path)
    except _jsonpath().JSONPathError as exc:
        index = exc.token.index if exc.token is not None else -1
        where = f" at offset {index}" if index >= 0 else ""
        return f"invalid JSONPath {_json(path)}: {exc.message}{where}"
    except RecursionError:
        return f"invalid JSONPath {_json(path)}: nested too deeply"
    return None


def validate_regex(pattern: str, group: int | str | None = None) -> str | None:
    """None when `pattern` compiles (and has `group`, if given), else a one-line error."""
    try:
        rx = _compiled_regex(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"invalid regular expression {_json(pattern)}: {exc}"
    if group is not None and _group_of(rx, group) is None:
        return f"regular expression {_json(pattern)} has no group {_json(group)}"
    return None


def validate_json_schema(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return "json_schema must be an object"
    jsonschema = _jsonschema()
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"invalid JSON schema at {exc.json_path}: {_clip_text(exc.message, 200)}"
    return _unresolved_ref(schema)


def _unresolved_ref(schema: dict[str, Any]) -> str | None:
    """The first `$ref` that does not point inside the schema itself: a remote or file
    reference is never fetched (a run must not read what the journey does not hold)."""
    pending: list[Any] = [schema]
    anchors = set(_anchors(schema))
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not _points_inside(schema, ref, anchors):
                shown = _clip_text(ref, 80)
                return (f"$ref '{shown}' does not point inside the schema; use '#/$defs/name'"
                        " (remote and file references are not fetched)")  # fmt: skip
            pending.extend(node.values())
    return None


def _anchors(schema: Any) -> Iterator[str]:
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if isinstance(node.get("$anchor"), str):
                yield node["$anchor"]
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def _points_inside(schema: dict[str, Any], ref: str, anchors: set[str]) -> bool:
    if not ref.startswith("#"):
        return False
    fragment = ref[1:]
    if not fragment.startswith("/"):
        return fragment == "" or fragment in anchors
    node: Any = schema
    for raw in fragment[1:].split("/"):
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _group_of(rx: re.Pattern[str], group: int | str) -> int | str | None:
    """The group to read: a number or name; group 1 of a group-less pattern is the match."""
    if isinstance(group, str) and group.isdigit():
        group = int(group)
    if isinstance(group, str):
        return group if group in rx.groupindex else None
    if group == 1 and rx.groups == 0:
        return 0
    return group if 0 <= group <= rx.groups else None


def _find(path: str, data: Any) -> tuple[list[Any], str | None]:
    names = _simple_names(path)
    if names is not None:
        return _simple_find(names, data), None
    jsonpath = _jsonpath()
    try:
        query = _compiled_path(path)
    except (jsonpath.JSONPathError, RecursionError):
        return [], validate_jsonpath(path)
    if isinstance(data, str):  # python-jsonpath would re-parse a top-level string
        return ([data] if not getattr(query, "segments", True) else []), None
    try:
        return list(query.findall(data)), None
    except (jsonpath.JSONPathError, RecursionError) as exc:
        detail = exc.message if isinstance(exc, jsonpath.JSONPathError) else "too deep"
        return [], f"cannot evaluate on this body ({detail})"
