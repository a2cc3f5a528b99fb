"""Static checks of outputs and assertions, run by the compiler, and durations.

Owns `assertion_problems`, `expected_problem` and `output_problems` (templated expected
values are judged at run time, not here) and `parse_duration_ms`, which the compiler and
`response_time` assertions share.
"""

from __future__ import annotations

import math
import re
from typing import Any

from reqflo.artifact import AssertionPlan, OutputPlan
from reqflo.checks.display import _json
from reqflo.checks.operators import JSON_TYPES, OPERATORS_BY_TYPE, _length_bounds, _Mismatch
from reqflo.checks.patterns import validate_json_schema, validate_jsonpath, validate_regex
from reqflo.values import strings_in, to_text

_DURATION = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000}


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
