"""Typed conversion of input values: `string`, `integer`, `number`, `boolean`, `json`.

Owns `convert_value`, shared by the run check (input defaults and case values) and
the runner (every run value). Strings convert leniently (`" 42 "` → 42, `"yes"` →
True); JSON values of the right type pass unchanged; a value that does not fit raises
`InputTypeError`, never silently coerced (`"4.5"` is not an integer, `true` is not a
number). Also `nests_deeper_than`, the nesting check of parsed JSON (data files,
response bodies): what nests deeper than Python's recursion allows breaks JSONPath,
serialisation and reports, so it is refused with a message instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from reqflo.values import to_text

_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})


class InputTypeError(ValueError):
    """A value does not fit an input's declared type."""


def convert_value(value: Any, type_name: str) -> Any:
    """`value` converted to `type_name`; raises InputTypeError saying why it does not fit."""
    if value is None:
        return None
    return _CONVERTERS[type_name](value)


def _to_string(value: Any) -> str:
    return value if isinstance(value, str) else to_text(value)


def _to_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise InputTypeError(f"{to_text(value)} is a boolean, not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if _decimal(text):
            return int(text)
    raise InputTypeError(f"{_show(value)} is not an integer")


MAX_DIGITS = 4300  # Python's own limit for int(str)


def _decimal(text: str) -> bool:
    """Digits int() reads (not "²", which isdigit() also accepts), within its limit."""
    digits = text[1:] if text[:1] in "+-" else text
    if len(digits) > MAX_DIGITS and digits.isdecimal():
        raise InputTypeError(f"an integer of {len(digits)} digits is too long")
    return digits.isdecimal()


def _to_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise InputTypeError(f"{to_text(value)} is a boolean, not a number")
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return int(text) if _decimal(text) else number
    raise InputTypeError(f"{_show(value)} is not a finite number")


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise InputTypeError(f"{_show(value)} is not a boolean (use true/false, yes/no, 1/0)")


def _to_json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    too_deep = InputTypeError(f"{_show(value)} nests deeper than {MAX_VALUE_DEPTH} levels")
    try:
        parsed = json.loads(value, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise InputTypeError(f"{_show(value)} is not valid JSON: {exc.msg}") from exc
    except RecursionError:
        raise too_deep from None
    except ValueError as exc:  # an integer beyond MAX_DIGITS, 1e999
        raise InputTypeError(f"{_show(value)} cannot be read: {exc}") from exc
    if nests_deeper_than(parsed):
        raise too_deep
    return parsed


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999: JSON has no infinity to send it as
        raise ValueError(f"{text} is not a finite number")
    return number


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "string": _to_string,
    "integer": _to_integer,
    "number": _to_number,
    "boolean": _to_boolean,
    "json": _to_json,
}


def _show(value: Any) -> str:
    text = to_text(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


MAX_VALUE_DEPTH = 64  # journeys, data and environment files, API bodies: deeper is a mistake


def nests_deeper_than(value: Any, limit: int = MAX_VALUE_DEPTH) -> bool:
    """Whether lists and objects in `value` nest more than `limit` levels (level by level,
    no recursion)."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(limit):
        if not level:
            return False
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
    return bool(level)


def json_value_problem(value: Any) -> str | None:
    """Why `value` is no JSON a request body can carry (NaN, infinity, nesting deeper than
    MAX_VALUE_DEPTH), or None."""
    if nests_deeper_than(value):
        return f"nests deeper than {MAX_VALUE_DEPTH} levels"
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return f"{item} is not a JSON number (JSON has no NaN or infinity)"
        if isinstance(item, dict | list):
            pending.extend(item.values() if isinstance(item, dict) else item)
    return None
