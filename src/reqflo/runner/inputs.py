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

from collections.abc import Mapping, Sequence
from typing import Any

from reqflo.artifact import InputPlan
from reqflo.conversion import InputTypeError, convert_value
from reqflo.diagnostics import RunSetupError

__all__ = ["InputTypeError", "convert_value", "prepare_inputs"]


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
