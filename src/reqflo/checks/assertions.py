"""Assertions: one assertion plan judged against a received response.

Owns `Check` (the outcome the runner turns into an AssertionResult), `evaluate_assertion`
(actual value by assertion type, type-specific conversions, the operator, the failure
message) and `json_schema` assertions. Bad response data becomes a failed `Check`, never
an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reqflo.artifact import AssertionPlan
from reqflo.checks import display as _display
from reqflo.checks.display import _clip, _identity, _show
from reqflo.checks.operators import OPERATIONS, _json_type, _length_bounds, _Mismatch
from reqflo.checks.outputs import ABSENT, _header, _parse_json
from reqflo.checks.patterns import (
    _compiled_path,
    _find,
    _jsonschema,
    _schema_validator,
    _simple_names,
    validate_json_schema,
)
from reqflo.checks.validation import parse_duration_ms
from reqflo.http import HttpResponse

# Bound by assignment, not `from ... import`: CPython compiles `name.method()` on an
# imported name without LOAD_METHOD (a bound method per call); this runs per assertion.
_REDACT = _display._REDACT
_SCHEMA_ERRORS_SHOWN = 3

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
    from referencing.exceptions import Unresolvable

    try:
        found = validator.iter_errors(data)
        ordered = sorted(found, key=lambda e: (len(e.path), list(map(str, e.path))))
    except RecursionError:
        return [], "is nested too deeply to validate"
    except Unresolvable as exc:  # an artifact built before refs were checked at compile time
        return [], f"cannot be checked: a $ref of the schema does not resolve ({exc})"
    return [_schema_error(e) for e in ordered], None


def _schema_error(error: Any) -> str:
    """Like jsonschema's message, but values as JSON (its Python reprs escape secrets
    in forms redaction does not know)."""
    rule = f"{error.validator}: {_show(error.validator_value)}"
    return f"{error.json_path}: {_show(error.instance)} does not satisfy {rule}"
