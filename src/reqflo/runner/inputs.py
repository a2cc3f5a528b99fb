"""Run inputs: typed conversion and the required-value check, before any request.

Owns `convert_value` (one value to an input's declared type: `string`, `integer`,
`number`, `boolean`, `json`) and `prepare_inputs` (defaults applied, types converted,
required inputs checked for one instance). Problems raise `RunSetupError` with code
`missing-input` or `invalid-input` and a message naming the input (and the row, when
the caller says which one); the engine turns them into an errored instance.

Rules: the caller passes values already merged by precedence (case, `--set`, data row);
an input the caller does not supply takes its default. For a non-string input an empty
string (an empty CSV cell) counts as "not supplied". Strings convert leniently
(`" 42 "` → 42, `"yes"` → True); JSON values of the right type pass unchanged; a
value that does not fit is an error, never silently coerced (`"4.5"` is not an
integer, `true` is not a number).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reqflo.artifact import InputPlan, InputType
from reqflo.diagnostics import RunSetupError
from reqflo.values import to_text

_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})


class InputTypeError(ValueError):
    """A value does not fit an input's declared type."""


def convert_value(value: Any, type_name: InputType) -> Any:
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
        if text.lstrip("+-").isdigit():
            return int(text)
    raise InputTypeError(f"{_show(value)} is not an integer")


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
            return int(text) if text.lstrip("+-").isdigit() else number
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
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise InputTypeError(f"{_show(value)} is not valid JSON: {exc.msg}") from exc


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


def prepare_inputs(
    declared: Sequence[InputPlan], values: Mapping[str, Any], where: str = ""
) -> dict[str, Any]:
    """The `inputs` scope of one instance: defaults, then `values`, converted to type.

    Undeclared values pass through unchanged; declared optional inputs without a value
    become None. `where` ("data row 12") is added to error messages.
    """
    missing: list[str] = []
    invalid: list[str] = []
    result = dict(values)
    for spec in declared:
        raw = values.get(spec.name)
        if raw is None or (raw == "" and spec.type != "string"):
            raw = spec.default
        if raw is None:
            if spec.required:
                missing.append(spec.name)
            result[spec.name] = None
            continue
        try:
            result[spec.name] = convert_value(raw, spec.type)
        except InputTypeError as exc:
            invalid.append(f"input '{spec.name}' ({spec.type}): {exc}")
    suffix = f" ({where})" if where else ""
    if missing:
        names = ", ".join(f"'{name}'" for name in missing)
        raise RunSetupError(f"missing required input {names}{suffix}", "missing-input")
    if invalid:
        raise RunSetupError("; ".join(invalid) + suffix, "invalid-input")
    return result
