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

Modules: `assertions` (evaluate_assertion, Check), `outputs` (extract_output, response
access), `operators` (operator semantics and tables), `patterns` (JSONPath, regex and JSON
Schema compilation, validation and JSONPath evaluation), `validation` (the compiler's
static checks, durations) and `display` (values in results and messages, redaction).
This package re-exports the names the rest of reqflo imports.
"""

from reqflo.checks.assertions import Check, evaluate_assertion
from reqflo.checks.display import MAX_VALUE_CHARS
from reqflo.checks.operators import ALL_OPERATORS, OPERATORS_BY_TYPE, loose_equals
from reqflo.checks.outputs import extract_output
from reqflo.checks.patterns import (
    _find,
    _simple_names,
    validate_json_schema,
    validate_jsonpath,
    validate_regex,
)
from reqflo.checks.validation import (
    assertion_problems,
    expected_problem,
    output_problems,
    parse_duration_ms,
)

__all__ = [
    "ALL_OPERATORS",
    "MAX_VALUE_CHARS",
    "OPERATORS_BY_TYPE",
    "Check",
    "_find",  # tests/test_checks_properties.py compares it with python-jsonpath
    "_simple_names",
    "assertion_problems",
    "evaluate_assertion",
    "expected_problem",
    "extract_output",
    "loose_equals",
    "output_problems",
    "parse_duration_ms",
    "validate_json_schema",
    "validate_jsonpath",
    "validate_regex",
]
