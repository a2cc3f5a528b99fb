"""Rules of a step's outputs and assertions, for the semantic pass (`journey.semantics`).

Owns which keys an output or assertion needs for its source or type, the operators each
assertion type accepts, the syntax of JSONPath, regex and JSON Schema values (judged by
`reqflo.checks`), the shape of `expected:` per operator, and each assertion's effective
operator (the default when `operator:` is left out), which the compiler uses too.
"""

from __future__ import annotations

from reqflo.checks import (
    OPERATORS_BY_TYPE,
    expected_problem,
    validate_json_schema,
    validate_jsonpath,
    validate_regex,
)
from reqflo.journey.model import AssertionSpec, OutputSpec
from reqflo.journey.references import Place, ReferenceChecker, Reporter
from reqflo.journey.source import PathKey
from reqflo.values import strings_in

NEEDS_EXPECTED = frozenset(OPERATORS_BY_TYPE["json_path"]) - {"exists", "not_exists"}


def _check_output(
    name: str,
    output: OutputSpec,
    path: PathKey,
    report: Reporter,
    refs: ReferenceChecker,
    index: int,
) -> None:
    if output.source in {"header", "cookie"} and not output.name:
        report.add(
            "missing-key",
            f"output '{name}' from {output.source} needs `name:`",
            path,
            f"add `name: ...` with the {output.source}'s name",
        )
    if output.path is not None:
        if output.source != "body":
            report.add(
                "invalid-output",
                f"output '{name}': `path` only applies to the body",
                (*path, "path"),
                "use regex: to pick part of a header or the url",
                key=True,
            )
        elif (problem := validate_jsonpath(output.path)) is not None:
            report.add(
                "invalid-jsonpath",
                problem,
                (*path, "path"),
                "JSONPath (RFC 9535) starts with $, e.g. $.order.id",
            )
    if output.regex is not None and (problem := validate_regex(output.regex, output.group)):
        report.add(
            "invalid-regex", f"invalid regex for output '{name}': {problem}", (*path, "regex")
        )
    refs.check_value(output.default, Place((*path, "default"), step_index=index))


def _check_assertion(
    assertion: AssertionSpec, path: PathKey, report: Reporter, refs: ReferenceChecker, index: int
) -> None:
    operator = effective_operator(assertion)
    allowed = OPERATORS_BY_TYPE[assertion.type]
    if operator not in allowed:
        report.add(
            "invalid-operator",
            f"operator '{operator}' does not apply to {assertion.type} assertions",
            (*path, "operator"),
            f"use one of: {', '.join(sorted(allowed))}",
        )
    for key, kinds in (
        ("path", {"json_path"}),
        ("name", {"header", "output"}),
        ("schema", {"json_schema"}),
    ):
        _require_key(assertion, key, kinds, path, report)
    if assertion.path is not None and (problem := validate_jsonpath(assertion.path)):
        report.add(
            "invalid-jsonpath",
            problem,
            (*path, "path"),
            "JSONPath (RFC 9535) starts with $, e.g. $.orders[*].id",
        )
    if assertion.schema_ is not None and (problem := validate_json_schema(assertion.schema_)):
        report.add("invalid-json-schema", f"invalid JSON Schema: {problem}", (*path, "schema"))
    _check_expected(assertion, operator, path, report)
    refs.check_value(assertion.expected, Place((*path, "expected"), index, self_ok=True))


def _require_key(
    assertion: AssertionSpec, key: str, kinds: set[str], path: PathKey, report: Reporter
) -> None:
    value = getattr(assertion, "schema_" if key == "schema" else key)
    if assertion.type in kinds and value is None:
        report.add(
            "missing-key", f"a {assertion.type} assertion needs `{key}:`", path, f"add `{key}: ...`"
        )


def _check_expected(
    assertion: AssertionSpec, operator: str, path: PathKey, report: Reporter
) -> None:
    has_expected = "expected" in assertion.model_fields_set
    if operator in NEEDS_EXPECTED and not has_expected and assertion.type != "json_schema":
        report.add(
            "missing-key", f"operator '{operator}' needs `expected:`", path, "add `expected: ...`"
        )
    expected = assertion.expected
    templated = any("{{" in text for text in strings_in(expected))
    if not has_expected or templated or assertion.type == "json_schema":
        return
    problem = expected_problem(assertion.type, operator, expected)
    if problem is not None:
        code = "invalid-regex" if operator == "matches" else "invalid-value"
        report.add(code, f"expected: {problem}", (*path, "expected"), _expected_hint(operator))


def _expected_hint(operator: str) -> str | None:
    return {
        "in": "e.g. expected: [200, 201]",
        "not_in": "e.g. expected: [500, 503]",
        "length": "a count, or bounds such as {gte: 1, lte: 10}",
    }.get(operator)


def effective_operator(assertion: AssertionSpec) -> str:
    if assertion.operator is not None:
        return assertion.operator
    if assertion.type == "json_schema":
        return "equals"
    if assertion.type in {"json_path", "header"} and "expected" not in assertion.model_fields_set:
        return "exists"
    if assertion.type == "response_time":
        return "lt"
    return "equals"
