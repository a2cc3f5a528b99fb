"""The run check's semantic pass: rules that span keys of a structurally valid journey.

Owns duplicate names, template and variable wiring, request completeness, assertion
and output rules (operators per type, JSONPath, regex, JSON Schema), the walk that
sends every template to `references`, and the warnings (unused inputs, variables and
templates; steps without assertions).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reqflo.checks import (
    OPERATORS_BY_TYPE,
    expected_problem,
    validate_json_schema,
    validate_jsonpath,
    validate_regex,
)
from reqflo.conversion import InputTypeError, convert_value
from reqflo.diagnostics import Diagnostic, Severity, did_you_mean
from reqflo.journey.model import AssertionSpec, Journey, OutputSpec, RequestSpec, StepSpec
from reqflo.journey.parser import ParsedJourney
from reqflo.journey.references import Place, ReferenceChecker, Reporter, parse_at
from reqflo.journey.requests import check_request_details
from reqflo.journey.source import PathKey
from reqflo.values import Ref, Template, parse_template, strings_in, template_refs

J: PathKey = ("journey",)
BODY_KEYS = ("json", "body", "form", "multipart", "graphql")
NEEDS_EXPECTED = frozenset(OPERATORS_BY_TYPE["json_path"]) - {"exists", "not_exists"}


def check_journey(parsed: ParsedJourney) -> list[Diagnostic]:
    """Every semantic problem of a parsed journey (its structural ones are already in it)."""
    if parsed.journey is None:
        return []
    report = Reporter(parsed)
    journey = parsed.journey.journey
    refs = ReferenceChecker(journey, report)
    _check_names(journey, report)
    _check_variables(journey, report, refs)
    _check_cases(journey, report)
    for name, template in journey.templates.items():
        check_request_details(template, (*J, "templates", name), report)
        _check_request_templates(template, (*J, "templates", name), refs, None, in_template=True)
    if not parsed.placeholder_steps:
        for index, step in enumerate(journey.steps):
            _check_step(journey, index, step, report, refs)
        _warn_unused(journey, report, refs)
    return sorted(report.found, key=_order)


def _order(diag: Diagnostic) -> tuple[bool, int, int]:
    pos = diag.position
    return (not diag.is_error, pos.line if pos else 0, pos.column if pos else 0)


def _check_names(journey: Journey, report: Reporter) -> None:
    for section, items in (
        ("steps", [s.id for s in journey.steps]),
        ("inputs", [i.name for i in journey.inputs]),
        ("variables", [v.name for v in journey.variables]),
    ):
        seen: set[str] = set()
        for index, name in enumerate(items):
            if name in seen:
                key = "id" if section == "steps" else "name"
                report.add(
                    f"duplicate-{section[:-1]}",
                    f"{section[:-1]} '{name}' is declared twice",
                    (*J, section, index, key),
                    "names must be unique",
                    width=len(name),
                )
            seen.add(name)


def _check_variables(journey: Journey, report: Reporter, refs: ReferenceChecker) -> None:
    for index, var in enumerate(journey.variables):
        path = (*J, "variables", index)
        source = var.effective_source
        if source == "secret" and not var.secret:
            report.add(
                "missing-key",
                f"variable '{var.name}' comes from a secret but names none",
                path,
                f"add `secret: SECRET_NAME` to variable '{var.name}'",
            )
        if source == "preset" and "value" not in var.model_fields_set:
            report.add(
                "missing-key",
                f"variable '{var.name}' has no source and no value",
                path,
                "add `value: ...`, or `source: environment|secret|input|me`",
            )
        if source != "preset" and "value" in var.model_fields_set:
            report.add(
                "conflicting-keys",
                f"variable '{var.name}' has both a value and source '{source}'",
                (*path, "value"),
                "keep one of them",
                key=True,
            )
        if source == "input" and (var.key or var.name) not in refs.inputs:
            report.add(
                "unknown-reference",
                f"variable '{var.name}' reads input '{var.key or var.name}', which is not declared",
                path,
                did_you_mean(var.key or var.name, refs.inputs),
            )
        if source == "input":
            refs.used_inputs.add(var.key or var.name)
        refs.check_value(var.value, Place((*path, "value"), step_index=0))
        _check_preset_order(var.value, {v.name for v in journey.variables[:index]}, path, report)


def _check_preset_order(value: Any, earlier: set[str], path: PathKey, report: Reporter) -> None:
    for text in strings_in(value):
        for ref in _refs_of_text(text):
            name = ref.path[0] if ref.path else None
            if ref.root == "variables" and isinstance(name, str) and name not in earlier:
                report.add(
                    "forward-reference",
                    f"variable '{name}' must be declared before the variable that uses it",
                    (*path, "value"),
                    "move it higher in variables:",
                    offset=ref.offset,
                )


def _refs_of_text(text: str) -> list[Ref]:
    if "{{" not in text:
        return []
    try:
        return list(template_refs(parse_template(text)))
    except ValueError:
        return []


def _check_cases(journey: Journey, report: Reporter) -> None:
    declared = {i.name: i.type for i in journey.inputs}
    for case, values in journey.cases.items():
        for name, value in values.items():
            path = (*J, "cases", case, name)
            if name not in declared:
                report.add(
                    "unknown-input",
                    f"case '{case}' sets '{name}', which is not an input",
                    path,
                    did_you_mean(name, declared),
                    key=True,
                    width=len(name),
                )
            else:
                _check_type(value, declared[name], f"case '{case}': '{name}'", path, report)
    for index, decl in enumerate(journey.inputs):
        where = f"input '{decl.name}': the default"
        _check_type(decl.default, decl.type, where, (*J, "inputs", index, "default"), report)


def _check_type(value: Any, type_name: str, what: str, path: PathKey, report: Reporter) -> None:
    if value is None or any("{{" in text for text in strings_in(value)):
        return
    try:
        convert_value(value, type_name)
    except InputTypeError as exc:
        report.add("invalid-input-value", f"{what} does not fit type {type_name}: {exc}", path)


def _check_step(
    journey: Journey, index: int, step: StepSpec, report: Reporter, refs: ReferenceChecker
) -> None:
    path = (*J, "steps", index)
    template = _step_template(journey, step, path, report)
    if step.request is None and template is None and step.template is None:
        report.add(
            "missing-request",
            f"step '{step.id}' has no request",
            path,
            "add `request:` with method and url, or `template:`",
        )
    _check_request_shape(step, template, path, report, refs, index)
    refs.check_value(step.values, Place((*path, "values"), step_index=index))
    _check_when(step, index, path, report, refs)
    for name, output in step.outputs.items():
        _check_output(name, output, (*path, "outputs", name), report, refs, index)
    for number, assertion in enumerate(step.assertions):
        _check_assertion(assertion, (*path, "assertions", number), report, refs, index)
    _check_retry(step, path, report)


def _check_request_shape(
    step: StepSpec,
    template: RequestSpec | None,
    path: PathKey,
    report: Reporter,
    refs: ReferenceChecker,
    index: int,
) -> None:
    if step.request is None and template is None:
        return
    merged_url = (step.request.url if step.request else None) or (
        template.url if template else None
    )
    if merged_url is None and (step.request is not None or template is not None):
        report.add(
            "missing-key",
            f"step '{step.id}' has no url",
            (*path, "request"),
            "add `url:` to the request or its template",
        )
    _check_bodies(step, template, path, report)
    if step.request is not None:
        _check_request_templates(step.request, (*path, "request"), refs, index)
    if template is not None:
        _check_template_use(step, template, index, path, report, refs)
    if step.request is not None:
        check_request_details(step.request, (*path, "request"), report)


def _check_retry(step: StepSpec, path: PathKey, report: Reporter) -> None:
    if step.retry and step.retry.until == "assertions_pass" and not step.assertions:
        report.add(
            "retry-without-assertions",
            f"step '{step.id}' retries until assertions pass but has none",
            (*path, "retry"),
            "add assertions or until: status_ok",
            severity=Severity.WARNING,
        )


def _step_template(
    journey: Journey, step: StepSpec, path: PathKey, report: Reporter
) -> RequestSpec | None:
    if step.template is None:
        if step.values:
            report.add(
                "unused-values",
                f"step '{step.id}' has values but no template",
                (*path, "values"),
                "values fill {{ values.x }} in a template",
                key=True,
                severity=Severity.WARNING,
            )
        return None
    template = journey.templates.get(step.template)
    if template is None and step.template not in report.parsed.broken.get("templates", set()):
        report.add(
            "unknown-template",
            f"template '{step.template}' does not exist",
            (*path, "template"),
            did_you_mean(step.template, journey.templates) or "declare it under templates:",
            width=len(step.template),
        )
    return template


def _check_bodies(
    step: StepSpec, template: RequestSpec | None, path: PathKey, report: Reporter
) -> None:
    request = step.request
    own = _bodies(request) if request else []
    inherited = [] if own else (_bodies(template) if template else [])
    if len(own) > 1 or len(inherited) > 1:
        report.add(
            "conflicting-body",
            f"step '{step.id}' has more than one body: {', '.join(own or inherited)}",
            (*path, "request"),
            "a request has one body: json, body, form, multipart or graphql",
            key=True,
        )


def _bodies(request: RequestSpec) -> list[str]:
    dumped = request.model_dump(by_alias=True, exclude_none=True)
    return [key for key in BODY_KEYS if key in dumped]


def _check_request_templates(
    request: RequestSpec,
    path: PathKey,
    refs: ReferenceChecker,
    step_index: int | None,
    *,
    in_template: bool = False,
) -> None:
    dumped = request.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
    dumped.pop("timeout", None)
    refs.check_value(dumped, Place(path, step_index=step_index, in_template=in_template))


def _check_template_use(
    step: StepSpec,
    template: RequestSpec,
    index: int,
    path: PathKey,
    report: Reporter,
    refs: ReferenceChecker,
) -> None:
    needed = {r.path[0] for r in _refs_in(template) if r.root == "values" and r.path}
    for name in sorted(needed - set(step.values)):
        report.add(
            "missing-template-value",
            f"template '{step.template}' uses values.{name} but step '{step.id}' does not set it",
            (*path, "template"),
            f"add `values: {{{name}: ...}}` to the step",
            key=True,
        )
    for ref in _refs_in(template):
        if ref.root == "steps":
            refs.check_template(_as_template(ref), Place((*path, "template"), step_index=index))


def _refs_in(request: RequestSpec) -> Iterable[Ref]:
    dumped = request.model_dump(by_alias=True, exclude_none=True)
    for text in strings_in(dumped):
        yield from _refs_of_text(text)


def _as_template(ref: Ref) -> Template:
    return Template((Ref(ref.root, ref.path, 0),))


def _check_when(
    step: StepSpec, index: int, path: PathKey, report: Reporter, refs: ReferenceChecker
) -> None:
    if not isinstance(step.when, str):
        return
    bare = "{{" not in step.when
    template = parse_at(report, step.when, (*path, "when"), expression=bare)
    if template is not None:
        refs.check_template(template, Place((*path, "when"), step_index=index))


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


def _warn_unused(journey: Journey, report: Reporter, refs: ReferenceChecker) -> None:
    for index, decl in enumerate(journey.inputs):
        if decl.name not in refs.used_inputs:
            report.add(
                "unused-input",
                f"input '{decl.name}' is never used",
                (*J, "inputs", index),
                severity=Severity.WARNING,
            )
    for index, var in enumerate(journey.variables):
        if var.name not in refs.used_variables:
            report.add(
                "unused-variable",
                f"variable '{var.name}' is never used",
                (*J, "variables", index),
                severity=Severity.WARNING,
            )
    used_templates = {s.template for s in journey.steps}
    for name in journey.templates:
        if name not in used_templates:
            report.add(
                "unused-template",
                f"template '{name}' is never used",
                (*J, "templates", name),
                severity=Severity.WARNING,
                key=True,
            )
    for index, step in enumerate(journey.steps):
        if not step.assertions:
            report.add(
                "no-assertions",
                f"step '{step.id}' has no assertions",
                (*J, "steps", index),
                "add at least a status_code assertion",
                severity=Severity.WARNING,
            )
