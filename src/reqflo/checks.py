"""Outputs and assertions: pure functions over a received `HttpResponse`.

Owns output extraction (`extract_output`), assertion evaluation (`evaluate_assertion`),
the operator semantics, which operators each assertion type accepts (`OPERATORS_BY_TYPE`),
static validation helpers for the compiler and `parse_duration_ms`. Bad response data is
never an exception here: it becomes a not-found `OutputValue` or a failed `Check`.

Semantics (documented for journey authors):
- JSONPath is RFC 9535 (python-jsonpath, strict). An output takes the single match, or a
  list when several nodes match. An assertion on a *singular* path (names and indices
  only, e.g. `$.order.id`) sees the value; any other query (`[*]`, `..`, filters,
  slices) sees the list of every match, so `$.orders[*].id contains X` behaves the same
  for one order or many. A path matching nothing is *absent*: `exists` fails,
  `not_exists` passes, every other operator fails. A JSON `null` is present.
- Equality is loose but predictable: a number equals a numeric string with the same
  value (`201 == "201"`, `1.5 == "1.50"`), a boolean equals `"true"`/`"false"`; objects
  and arrays compare member by member with the same rule; everything else is strict (two
  strings compare as text, `1 != true`, `null` equals only `null`).
- Ordering (`gt`/`gte`/`lt`/`lte`) compares numbers or numeric strings numerically and two
  non-numeric strings as text (ISO timestamps sort correctly); anything else fails.
- `length` takes a count (`3`) or bounds `{gte: 1, lte: 10}` (keys equals, not_equals, gt,
  gte, lt, lte) against the length of a string, array or object.
- `contains`: substring of a string, element of an array (loose equality), key of an
  object. `in`/`not_in` need a list. `is_type` takes string, integer, number, boolean,
  array, object or null (JSON Schema meaning: 1.0 is an integer, 1 is a number).
- `body` assertions see the body text; `equals`/`not_equals` against an object or array
  compare the parsed JSON instead. `json_schema` ignores its operator (the default
  `equals` means "conforms"). `response_time` takes milliseconds or a duration string.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, get_args

from reqflo.artifact import AssertionPlan, Operator, OutputPlan
from reqflo.http import HttpResponse
from reqflo.values import strings_in, to_text

MAX_VALUE_CHARS = 2_000
_MESSAGE_VALUE_CHARS = 200
_SCHEMA_ERRORS_SHOWN = 3


def _identity(text: str) -> str:
    return text


_REDACT: ContextVar[Callable[[str], str]] = ContextVar("checks_redact", default=_identity)

ALL_OPERATORS: frozenset[str] = frozenset(get_args(Operator))
_ORDERING = frozenset({"gt", "gte", "lt", "lte"})
_EQUALITY = frozenset({"equals", "not_equals", "in", "not_in"})
_TEXT = frozenset({"contains", "not_contains", "matches", "starts_with", "ends_with", "length"})

OPERATORS_BY_TYPE: dict[str, frozenset[str]] = {
    "status_code": _EQUALITY | _ORDERING | {"matches", "starts_with"},
    "json_path": ALL_OPERATORS,
    "header": ALL_OPERATORS - {"is_type"},
    "body": _TEXT | {"equals", "not_equals"},
    "response_time": _ORDERING,
    "json_schema": frozenset({"equals"}),
    "output": ALL_OPERATORS,
}

JSON_TYPES = ("string", "integer", "number", "boolean", "array", "object", "null")
LENGTH_BOUNDS = ("equals", "not_equals", "gt", "gte", "lt", "lte")

_PHRASE = {
    "equals": "to equal",
    "not_equals": "not to equal",
    "contains": "to contain",
    "not_contains": "not to contain",
    "matches": "to match",
    "gt": "to be >",
    "gte": "to be >=",
    "lt": "to be <",
    "lte": "to be <=",
    "in": "to be one of",
    "not_in": "not to be one of",
    "starts_with": "to start with",
    "ends_with": "to end with",
    "length": "to have length",
    "is_type": "to be of type",
    "exists": "to exist",
    "not_exists": "not to exist",
}
_SYMBOL = {
    "equals": "",
    "not_equals": "not ",
    "gt": "> ",
    "gte": ">= ",
    "lt": "< ",
    "lte": "<= ",
    "in": "one of ",
    "not_in": "not one of ",
    "matches": "matching ",
    "starts_with": "starting with ",
}
_NUMERIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DURATION = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000}
_SEQUENCES = (list, tuple)  # isinstance with a tuple: no union object built per call
_CONTAINERS = (dict, list, tuple)
_NUMBERS = (int, float)
_EXACT = frozenset({str, int, float})  # types whose loose equality is plain ==


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class OutputValue:
    """One extracted output. `reason` says why nothing was found (kept when defaulted)."""

    name: str
    value: Any = None
    found: bool = True
    defaulted: bool = False
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.found or self.defaulted


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one assertion; the runner turns it into an AssertionResult."""

    index: int
    type: str
    operator: str
    passed: bool
    expected: Any = None
    actual: Any = None
    path: str | None = None
    key: str | None = None
    message: str = ""


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()


class _Mismatch(Exception):
    """Internal: an operator cannot apply to these values (becomes a failed Check)."""


# ---------------------------------------------------------------- cached compilation


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


# ---------------------------------------------------------------- validation helpers


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
    return None


def assertion_problems(assertion: AssertionPlan) -> list[str]:
    """Static problems of one assertion; templated `expected` values are not judged."""
    kind, op, expected = assertion.type, assertion.operator, assertion.expected
    problems: list[str | None] = []
    if op not in OPERATORS_BY_TYPE[kind]:
        allowed = ", ".join(sorted(OPERATORS_BY_TYPE[kind]))
        problems.append(f"operator '{op}' is not valid for {kind} (use one of: {allowed})")
    if kind == "json_path":
        problems.append(validate_jsonpath(assertion.path) if assertion.path else "needs a path")
    if kind in {"header", "output"} and not assertion.key:
        problems.append(f"{kind} assertion needs a key")
    if kind == "json_schema":
        problems.append(validate_json_schema(assertion.json_schema))
    if kind != "json_schema" and not any("{{" in s for s in strings_in(expected)):
        problems.append(expected_problem(kind, op, expected))
    return [p for p in problems if p]


def expected_problem(kind: str, op: str, expected: Any) -> str | None:
    if kind == "response_time":
        try:
            parse_duration_ms(expected)
        except ValueError as exc:
            return str(exc)
    if op == "matches":
        return validate_regex(to_text(expected))
    if op in {"in", "not_in"} and not isinstance(expected, list | tuple):
        return f"'{op}' needs a list as expected value"
    if op == "length":
        try:
            _length_bounds(expected)
        except _Mismatch as exc:
            return str(exc)
    if op == "is_type" and expected not in JSON_TYPES:
        return f"is_type expects one of {', '.join(JSON_TYPES)}"
    return None


def output_problems(output: OutputPlan) -> list[str]:
    problems: list[str | None] = []
    if output.source in {"header", "cookie"} and not output.key:
        problems.append(f"output '{output.name}' from {output.source} needs a key")
    if output.path is not None:
        problems.append(validate_jsonpath(output.path))
    if output.regex is not None:
        problems.append(validate_regex(output.regex, output.group))
    return [p for p in problems if p]


# ---------------------------------------------------------------- durations


def parse_duration_ms(text: str | int | float) -> int:
    """Milliseconds from `250ms`, `5s`, `1.5s`, `2m`, `1h`, or a plain number of ms."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"invalid duration {_json(text)}: expected e.g. 250ms, 5s, 2m")
    if isinstance(text, int | float):
        if not math.isfinite(text) or text < 0:
            raise ValueError(f"invalid duration {_json(text)}: must be a non-negative number")
        return round(text)
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"invalid duration {_json(text)}: expected e.g. 250ms, 5s, 2m")
    return round(float(match[1]) * _UNIT_MS[match[2] or "ms"])


# ---------------------------------------------------------------- outputs


def extract_output(output: OutputPlan, response: HttpResponse) -> OutputValue:
    """Extract one output; on a miss use the output's default when it has one."""
    value, reason = _output_source(output, response)
    if reason is None and output.regex is not None:
        text = response.text if _whole_body(output) else _text_form(value)
        value, reason = _regex_extract(output.regex, output.group, text)
    if reason is None:
        return OutputValue(output.name, value)
    if output.has_default:
        return OutputValue(output.name, output.default, False, True, reason)
    return OutputValue(output.name, None, False, False, reason)


def _whole_body(output: OutputPlan) -> bool:
    return output.source == "body" and output.path is None


def _output_source(output: OutputPlan, response: HttpResponse) -> tuple[Any, str | None]:
    source = output.source
    if source == "status":
        return response.status, None
    if source == "url":
        return response.url, None
    if source == "body":
        return _body_value(output, response)
    value = (
        _header(response, output.key or "")
        if source == "header"
        else _cookie(response, output.key or "")
    )
    if value is ABSENT:
        return None, f"no {source} '{output.key}' in the response"
    return value, None


def _body_value(output: OutputPlan, response: HttpResponse) -> tuple[Any, str | None]:
    if output.path is None:
        return (None if output.regex else _body_document(response)), None
    data, error = _parse_json(response)
    if error:
        return None, error
    matches, error = _find(output.path, data)
    if error:
        return None, error
    if not matches:
        return None, f"{output.path} matched nothing in the response body"
    return (matches[0] if len(matches) == 1 else matches), None


def _body_document(response: HttpResponse) -> Any:
    data, error = _parse_json(response)
    return response.text if error else data


def _regex_extract(pattern: str, group: int | str, text: str) -> tuple[Any, str | None]:
    try:
        rx = _compiled_regex(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return None, f"invalid regular expression {_json(pattern)}: {exc}"
    chosen = _group_of(rx, group)
    if chosen is None:
        return None, f"regular expression {_json(pattern)} has no group {_json(group)}"
    match = rx.search(text)
    if match is None:
        return None, f"regular expression {_json(pattern)} found no match"
    value = match.group(chosen)
    if value is None:
        return None, f"group {_json(group)} of {_json(pattern)} took no part in the match"
    return value, None


def _group_of(rx: re.Pattern[str], group: int | str) -> int | str | None:
    """The group to read: a number or name; group 1 of a group-less pattern is the match."""
    if isinstance(group, str) and group.isdigit():
        group = int(group)
    if isinstance(group, str):
        return group if group in rx.groupindex else None
    if group == 1 and rx.groups == 0:
        return 0
    return group if 0 <= group <= rx.groups else None


def _cookie(response: HttpResponse, name: str) -> Any:
    if name in response.cookies:
        return response.cookies[name]
    for header in response.header_values("set-cookie"):
        key, sep, value = header.split(";", 1)[0].partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    return ABSENT


# ---------------------------------------------------------------- response access


def _header(response: HttpResponse, name: str) -> Any:
    values = response.header_values(name)
    return ", ".join(values) if values else ABSENT


def _parse_json(response: HttpResponse) -> tuple[Any, str | None]:
    try:
        return response.json, None
    except (ValueError, RecursionError) as exc:
        return None, f"response body is not JSON ({_clip_text(str(exc), 120)})"


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


def _json_path_actual(path: str, response: HttpResponse) -> tuple[Any, str | None]:
    data, error = _parse_json(response)
    if error:
        return ABSENT, error
    matches, error = _find(path, data)
    if error or not matches:
        return ABSENT, error
    singular = _simple_names(path) is not None or _compiled_path(path).singular_query()
    return (matches[0] if singular else matches), None


def _actual(
    assertion: AssertionPlan, response: HttpResponse, outputs: Mapping[str, Any]
) -> tuple[Any, str | None]:
    kind = assertion.type
    if kind == "status_code":
        return response.status, None
    if kind == "response_time":
        return response.elapsed_ms, None
    if kind == "header":
        return _header(response, assertion.key or ""), None
    if kind == "output":
        return outputs.get(assertion.key or "", ABSENT), None
    if kind == "json_path":
        if not assertion.path:
            return ABSENT, "json_path assertion has no path"
        return _json_path_actual(assertion.path, response)
    return response.text, None


# ---------------------------------------------------------------- assertions


def evaluate_assertion(
    index: int,
    assertion: AssertionPlan,
    response: HttpResponse,
    expected: Any,
    outputs: Mapping[str, Any],
    redact: Callable[[str], str] | None = None,
) -> Check:
    """Evaluate one assertion; `expected` is already rendered by the caller. `redact`
    masks secrets in any text before it is shortened for the result."""
    token = _REDACT.set(redact or _identity)
    try:
        return _evaluate(index, assertion, response, expected, outputs)
    finally:
        _REDACT.reset(token)


def _evaluate(
    index: int,
    assertion: AssertionPlan,
    response: HttpResponse,
    expected: Any,
    outputs: Mapping[str, Any],
) -> Check:
    if assertion.type == "json_schema":
        return _schema_check(index, assertion, response)
    actual, error = _actual(assertion, response, outputs)
    op = assertion.operator
    if error is None:
        actual, expected, error = _prepare(assertion, actual, expected, response)
    if error is not None:
        passed, message = False, f"{_subject(assertion)}: {error}"
    elif actual is ABSENT:
        passed, message = op == "not_exists", _absent_message(assertion, expected)
    else:
        passed, message = _judge(assertion, actual, expected)
    return Check(
        index,
        assertion.type,
        op,
        passed,
        _clip(expected),
        None if actual is ABSENT else _clip(actual),
        assertion.path,
        assertion.key,
        "" if passed else message,
    )


def _prepare(
    assertion: AssertionPlan, actual: Any, expected: Any, response: HttpResponse
) -> tuple[Any, Any, str | None]:
    """Type-specific conversions: durations, and parsed JSON for body equality."""
    if assertion.type == "response_time":
        try:
            return actual, parse_duration_ms(expected), None
        except ValueError as exc:
            return actual, expected, str(exc)
    body_equality = assertion.operator in {"equals", "not_equals"}
    if assertion.type == "body" and body_equality and isinstance(expected, dict | list):
        data, error = _parse_json(response)
        return data, expected, error
    return actual, expected, None


def _judge(assertion: AssertionPlan, actual: Any, expected: Any) -> tuple[bool, str]:
    op = assertion.operator
    try:
        passed = bool(OPERATIONS[op](actual, expected))
    except _Mismatch as exc:
        return False, f"{_subject(assertion)}: {exc}"
    except RecursionError:
        return False, f"{_subject(assertion)}: value nested too deeply to compare"
    return passed, "" if passed else _failure_message(assertion, actual, expected)


def _subject(assertion: AssertionPlan) -> str:
    kind = assertion.type
    if kind == "json_path":
        return assertion.path or "json_path"
    if kind in {"header", "output"}:
        return f"{kind} {assertion.key}"
    return {"status_code": "status", "response_time": "response time"}.get(kind, kind)


def _failure_message(assertion: AssertionPlan, actual: Any, expected: Any) -> str:
    op, kind = assertion.operator, assertion.type
    if kind == "status_code" and op in _SYMBOL:
        return f"expected status {_SYMBOL[op]}{_show(expected)}, got {_show(actual)}"
    if kind == "response_time" and op in _SYMBOL:
        return f"expected response time {_SYMBOL[op]}{expected}ms, got {actual:.1f}ms"
    if op == "not_exists":
        return f"{_subject(assertion)}: expected not to exist, but found {_show(actual)}"
    if op == "length":
        wanted = " and ".join(f"{_SYMBOL[k]}{n}" for k, n in _length_bounds(expected).items())
        return f"{_subject(assertion)}: expected length {wanted}, got {len(actual)}"
    message = f"{_subject(assertion)}: expected {_show(actual)} {_PHRASE[op]} {_show(expected)}"
    if op == "is_type":
        message += f" (it is {_json_type(actual)})"
    return message


def _absent_message(assertion: AssertionPlan, expected: Any) -> str:
    subject = _subject(assertion)
    missing = {"header": "is missing", "output": "was not extracted"}.get(
        assertion.type, "matched nothing"
    )
    if assertion.operator == "exists":
        return f"{subject}: expected to exist, but {missing}"
    return f"{subject} {missing} (expected it {_PHRASE[assertion.operator]} {_show(expected)})"


def _schema_check(index: int, assertion: AssertionPlan, response: HttpResponse) -> Check:
    schema = assertion.json_schema
    validator, problem = _validator_or_problem(schema)
    errors: list[str] = []
    if problem is None:
        data, problem = _parse_json(response)
        if problem is None:
            errors, problem = _schema_errors(validator, data)
    if problem is None and errors:
        more = len(errors) - _SCHEMA_ERRORS_SHOWN
        problem = "does not match the schema: " + "; ".join(errors[:_SCHEMA_ERRORS_SHOWN])
        problem += f" (and {more} more)" if more > 0 else ""
    message = f"body {problem}" if problem else ""
    return Check(
        index,
        "json_schema",
        assertion.operator,
        problem is None,
        _clip(schema),
        _clip(errors) if errors else None,
        None,
        None,
        message,
    )


def _validator_or_problem(schema: Any) -> tuple[Any, str | None]:
    if not isinstance(schema, dict):
        return None, "json_schema assertion has no schema object"
    try:
        return _schema_validator(schema), None
    except _jsonschema().SchemaError:
        return None, f"cannot be checked: {validate_json_schema(schema)}"


def _schema_errors(validator: Any, data: Any) -> tuple[list[str], str | None]:
    try:
        found = validator.iter_errors(data)
        ordered = sorted(found, key=lambda e: (len(e.path), list(map(str, e.path))))
    except RecursionError:
        return [], "is nested too deeply to validate"
    return [_schema_error(e) for e in ordered], None


def _schema_error(error: Any) -> str:
    """Like jsonschema's message, but values as JSON (its Python reprs escape secrets
    in forms redaction does not know)."""
    rule = f"{error.validator}: {_show(error.validator_value)}"
    return f"{error.json_path}: {_show(error.instance)} does not satisfy {rule}"


# ---------------------------------------------------------------- operators


def loose_equals(left: Any, right: Any) -> bool:
    """Equality with numbers == numeric strings and booleans == "true"/"false"."""
    kind = type(left)
    if kind is type(right) and kind in _EXACT:  # same plain type: what the rules below give
        return bool(left == right)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(loose_equals(left[k], right[k]) for k in left)
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        return len(left) == len(right) and all(map(loose_equals, left, right))
    if isinstance(left, bool) or isinstance(right, bool):
        if isinstance(left, str) or isinstance(right, str):
            return to_text(left) == to_text(right)
        return left is right
    if not (isinstance(left, str) and isinstance(right, str)):
        lnum, rnum = _as_number(left), _as_number(right)
        if lnum is not None and rnum is not None:
            return lnum == rnum
    return type(left) is type(right) and bool(left == right)


def _as_number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, _NUMBERS):
        return value
    if isinstance(value, str) and len(value) < 400 and _NUMERIC.fullmatch(value):
        try:
            return int(value) if value.lstrip("+-").isdigit() else float(value)
        except ValueError:
            return None
    return None


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list | tuple):
        return any(loose_equals(item, expected) for item in actual)
    if isinstance(expected, dict | list | tuple) or expected is None:
        raise _Mismatch(f"cannot look for {_show(expected)} inside {_show(actual)}")
    if isinstance(actual, str):
        return to_text(expected) in actual
    if isinstance(actual, dict):
        return to_text(expected) in actual
    raise _Mismatch(f"cannot look inside {_json_type(actual)} {_show(actual)}")


def _ordered(actual: Any, expected: Any) -> tuple[Any, Any]:
    left, right = _as_number(actual), _as_number(expected)
    if left is not None and right is not None:
        return left, right
    if isinstance(actual, str) and isinstance(expected, str):
        return actual, expected
    raise _Mismatch(f"cannot compare {_show(actual)} with {_show(expected)}: not both numbers")


def _text(value: Any, role: str) -> str:
    if value is None or isinstance(value, dict | list | tuple):
        raise _Mismatch(f"{role} {_show(value)} is not text")
    return to_text(value)


def _matches(actual: Any, expected: Any) -> bool:
    pattern = _text(expected, "pattern")
    try:
        rx = _compiled_regex(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise _Mismatch(f"invalid regular expression {_json(pattern)}: {exc}") from None
    if actual is None:
        raise _Mismatch("null is not text")
    return rx.search(to_text(actual)) is not None


def _one_of(actual: Any, expected: Any) -> bool:
    if not isinstance(expected, list | tuple):
        raise _Mismatch(f"expected value must be a list, got {_show(expected)}")
    return any(loose_equals(actual, item) for item in expected)


def _length_bounds(expected: Any) -> dict[str, int | float]:
    if isinstance(expected, dict) and expected and set(expected) <= set(LENGTH_BOUNDS):
        bounds = {op: _as_number(n) for op, n in expected.items()}
    else:
        bounds = {"equals": _as_number(expected)}
    if any(n is None for n in bounds.values()):
        raise _Mismatch(
            f"length expects a number or bounds like {{gte: 1, lte: 10}}, got {_show(expected)}"
        )
    return {op: n for op, n in bounds.items() if n is not None}


def _length(actual: Any, expected: Any) -> bool:
    bounds = _length_bounds(expected)
    if not isinstance(actual, str | list | tuple | dict):
        raise _Mismatch(f"{_json_type(actual)} {_show(actual)} has no length")
    size = len(actual)
    return all(_COMPARE[op](size, n) for op, n in bounds.items())


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list | tuple) else "object"


def _is_type(actual: Any, expected: Any) -> bool:
    if expected not in JSON_TYPES:
        raise _Mismatch(f"is_type expects one of {', '.join(JSON_TYPES)}, got {_show(expected)}")
    kind = _json_type(actual)
    return kind == expected or (expected == "number" and kind == "integer")


_COMPARE: dict[str, Any] = {
    "equals": lambda a, b: a == b,
    "not_equals": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}

OPERATIONS: dict[str, Any] = {
    "equals": loose_equals,
    "not_equals": lambda a, e: not loose_equals(a, e),
    "exists": lambda a, e: True,
    "not_exists": lambda a, e: False,
    "contains": _contains,
    "not_contains": lambda a, e: not _contains(a, e),
    "matches": _matches,
    "gt": lambda a, e: _COMPARE["gt"](*_ordered(a, e)),
    "gte": lambda a, e: _COMPARE["gte"](*_ordered(a, e)),
    "lt": lambda a, e: _COMPARE["lt"](*_ordered(a, e)),
    "lte": lambda a, e: _COMPARE["lte"](*_ordered(a, e)),
    "in": _one_of,
    "not_in": lambda a, e: not _one_of(a, e),
    "starts_with": lambda a, e: _text(a, "value").startswith(_text(e, "prefix")),
    "ends_with": lambda a, e: _text(a, "value").endswith(_text(e, "suffix")),
    "length": _length,
    "is_type": _is_type,
}


# ---------------------------------------------------------------- display


def _text_form(value: Any) -> str:
    return value if isinstance(value, str) else to_text(value)


def _clip_text(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """Shorten text to `limit`; redacted first, so a cut never splits a secret."""
    if len(text) <= limit:
        return text
    text = _REDACT.get()(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[truncated {len(text) - limit} chars]"


def _clip(value: Any) -> Any:
    """Values kept in results: text over MAX_VALUE_CHARS (or its JSON) is truncated."""
    if isinstance(value, str):
        return _clip_text(value)
    if isinstance(value, _CONTAINERS):
        text = _json(value)
        return value if len(text) <= MAX_VALUE_CHARS else _clip_text(text)
    return value


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        return f"<{type(value).__name__}>"


def _show(value: Any) -> str:
    """A value as it appears in a message: JSON, shortened."""
    return _clip_text(_json(value), _MESSAGE_VALUE_CHARS)
