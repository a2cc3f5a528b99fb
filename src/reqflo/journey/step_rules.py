"""Rules of a step and its request, for the semantic pass (`journey.semantics`).

Owns a step's request completeness (a request or template, a url, one body), the use of
a template (the step's `values:` cover what it reads; its step references), `when:`,
retry until assertions pass, and the walk that sends every template of a request to
`references`; outputs and assertions are `journey.assertion_rules`'. Also the journey
path root (`J`) and the `{{ }}` references of a text, which the journey-wide rules share.
"""

from __future__ import annotations

from collections.abc import Iterable

from reqflo.diagnostics import Severity, did_you_mean
from reqflo.journey.assertion_rules import _check_assertion, _check_output
from reqflo.journey.model import Journey, RequestSpec, StepSpec
from reqflo.journey.references import Place, ReferenceChecker, Reporter, parse_at
from reqflo.journey.requests import check_request_details
from reqflo.journey.source import PathKey
from reqflo.values import Ref, Template, parse_template, strings_in, template_refs

J: PathKey = ("journey",)
BODY_KEYS = ("json", "body", "form", "multipart", "graphql")


def _refs_of_text(text: str) -> list[Ref]:
    if "{{" not in text:
        return []
    try:
        return list(template_refs(parse_template(text)))
    except ValueError:
        return []


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
