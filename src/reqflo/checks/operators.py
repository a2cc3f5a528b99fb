"""Assertion operators: what each one means and which assertion types accept it.

Owns `ALL_OPERATORS`, `OPERATORS_BY_TYPE`, `JSON_TYPES`, `LENGTH_BOUNDS`, loose equality
(`loose_equals`), ordering, containment, `matches`, `length` and `is_type`, and the table
`OPERATIONS` (operator → function of actual and expected). An operator that cannot apply
to its values raises `_Mismatch`, which the caller turns into a failed `Check`.
"""

from __future__ import annotations

import re
from typing import Any, get_args

from reqflo.artifact import Operator
from reqflo.checks.display import _json, _show
from reqflo.checks.patterns import _compiled_regex
from reqflo.values import to_text

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

_NUMERIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SEQUENCES = (list, tuple)  # isinstance with a tuple: no union object built per call
_NUMBERS = (int, float)
_EXACT = frozenset({str, int, float})  # types whose loose equality is plain ==


class _Mismatch(Exception):
    """Internal: an operator cannot apply to these values (becomes a failed Check)."""


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
