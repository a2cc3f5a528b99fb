"""The compiler: a checked journey → an immutable build artifact (spec §3).

Owns template merging (a step's request over its template), substitution of
`values.x` and `variables.x` by what they stand for (`env.*`, `secrets.*`,
`inputs.*`, `me.*` or the preset literal), defaults, the list of names a run needs,
and the source positions kept beside the hashed plan.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reqflo import artifact as art
from reqflo.checks import parse_duration_ms as duration_ms
from reqflo.diagnostics import Diagnostic, JourneyError, render_all
from reqflo.journey.model import (
    AssertionSpec,
    AuthSpec,
    Journey,
    OutputSpec,
    RequestSpec,
    StepSpec,
    VariableDecl,
)
from reqflo.journey.parser import ParsedJourney, parse_file, parse_text
from reqflo.journey.semantics import check_journey, effective_operator
from reqflo.journey.source import PathKey
from reqflo.values import (
    BoolOp,
    Call,
    Compare,
    Expr,
    Literal,
    Not,
    Ref,
    make_template,
    parse_template,
    strings_in,
    substitute,
    template_refs,
    to_text,
)

DEFAULT_TIMEOUT_MS = 30_000
EXPRESSIONS = (Literal, Ref, Call, Compare, BoolOp, Not)
BODY_KEYS = ("json_body", "body", "form", "multipart", "graphql")


@dataclass
class CheckResult:
    """The run check's outcome: every diagnostic, and the artifact when there is no error."""

    parsed: ParsedJourney
    diagnostics: list[Diagnostic] = field(default_factory=list)
    artifact: art.Artifact | None = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    def render(self) -> str:
        return render_all(self.diagnostics, {self.parsed.source.file: self.parsed.source.text})

    def raise_for_errors(self) -> art.Artifact:
        if self.artifact is None:
            raise JourneyError(
                f"{len(self.errors)} error(s) in {self.parsed.source.file}", self.diagnostics
            )
        return self.artifact


def check_file(path: Path, display: str | None = None) -> CheckResult:
    return _check(parse_file(path, display))


def check_text(text: str, file: str = "<journey>") -> CheckResult:
    return _check(parse_text(text, file))


def _check(parsed: ParsedJourney) -> CheckResult:
    found = list(parsed.diagnostics) + check_journey(parsed)
    found.sort(key=lambda d: (not d.is_error, *_line_col(d)))
    result = CheckResult(parsed, found)
    if not result.errors and parsed.journey is not None:
        result.artifact = compile_journey(parsed)
    return result


def _line_col(diag: Diagnostic) -> tuple[int, int]:
    return (diag.position.line, diag.position.column) if diag.position else (0, 0)


def compile_journey(parsed: ParsedJourney) -> art.Artifact:
    assert parsed.journey is not None
    journey = parsed.journey.journey
    variables: dict[str, Any] = {}
    for var in journey.variables:  # a preset may use the variables declared before it
        variables[var.name] = _variable_expr(var, Resolver(dict(variables), {}))
    steps = tuple(_step_plan(journey, s, variables) for s in journey.steps)
    plan = art.Plan(
        journey=art.JourneyMeta(
            name=journey.name,
            description=journey.description,
            version=journey.version,
            owner=journey.owner,
            tags=tuple(journey.tags),
        ),
        inputs=tuple(art.InputPlan(**i.model_dump()) for i in journey.inputs),
        cases=journey.cases,
        needs=_needs(journey, steps),
        steps=steps,
    )
    return art.seal(plan, _source_info(parsed))


# ------------------------------------------------------------ substitution


def _variable_expr(var: VariableDecl, earlier: Resolver) -> Expr | Any:
    source = var.effective_source
    key = var.key or var.name
    if source == "environment":
        return Ref("env", (key,))
    if source == "secret":
        return Ref("secrets", (var.secret or var.name,))
    if source == "input":
        return Ref("inputs", (key,))
    if source == "me":
        return Ref("me", (key,))
    return _literal_or_template(earlier.resolve(var.value))


def _literal_or_template(value: Any) -> Expr | Any:
    """A string with templates becomes an expression; anything else stays a value."""
    if isinstance(value, str) and "{{" in value:
        template = parse_template(value)
        if template.is_single_expression:
            return template.parts[0]
        return Call(
            "concat", tuple(p if not isinstance(p, str) else Literal(p) for p in template.parts)
        )
    return value


class Resolver:
    """Rewrites templates of one step: `variables.x` and `values.x` → their sources."""

    def __init__(self, variables: dict[str, Any], values: dict[str, Any]) -> None:
        self.variables = variables
        self.values: dict[str, Any] = {}
        self.values = {k: self._value(v) for k, v in values.items()}

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return _literal_or_template(self.text(value)) if "{{" in value else value
        return self.resolve(value)

    def replacement(self, ref: Ref) -> Expr | None:
        table = {"variables": self.variables, "values": self.values}.get(ref.root)
        if table is None or not ref.path or ref.path[0] not in table:
            return None
        found = table[str(ref.path[0])]
        return _extend(found, ref.path[1:])

    def text(self, text: str) -> Any:
        if "{{" not in text:
            return text
        template = substitute(parse_template(text), self.replacement)
        if template.is_single_expression and isinstance(template.parts[0], Literal):
            return template.parts[0].value
        return template.source()

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._whole(value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        return value

    def _whole(self, text: str) -> Any:
        """A string that is exactly one reference to a structured value becomes that value."""
        if "{{" in text:
            template = parse_template(text)
            part = template.parts[0]
            if template.is_single_expression and isinstance(part, Ref):
                found = self.replacement(part)
                if isinstance(found, Literal) and isinstance(found.value, dict | list):
                    return self.resolve(found.value)
        return self.text(text)


def _extend(found: Any, rest: tuple[str | int, ...]) -> Expr:
    if isinstance(found, Ref):
        return Ref(found.root, found.path + rest)
    if isinstance(found, EXPRESSIONS):
        return found
    return Literal(_dig(found, rest))


def _dig(value: Any, rest: tuple[str | int, ...]) -> Any:
    for seg in rest:
        if isinstance(value, dict):
            value = value.get(str(seg))
        elif isinstance(value, list) and isinstance(seg, int) and -len(value) <= seg < len(value):
            value = value[seg]
        else:
            return None
    return value


# ------------------------------------------------------------------- steps


def _step_plan(journey: Journey, step: StepSpec, variables: dict[str, Any]) -> art.StepPlan:
    resolver = Resolver(variables, step.values)
    template = journey.templates.get(step.template or "")
    request = _merge(template, step.request)
    return art.StepPlan(
        id=step.id,
        name=step.name or step.id,
        request=_with_idempotency_key(step, _request_plan(request, resolver)),
        outputs=tuple(_output_plan(n, o, resolver) for n, o in step.outputs.items()),
        assertions=tuple(_assertion_plan(a, resolver) for a in step.assertions),
        retry=_retry_plan(step),
        when=_when(step.when, resolver),
        continue_on_failure=step.continue_on_failure,
        idempotent=step.idempotent,
    )


IDEMPOTENCY_KEY = "{{ run.id }}-{{ run.instance }}-"


def _with_idempotency_key(step: StepSpec, request: art.RequestPlan) -> art.RequestPlan:
    """`idempotency_key: true`: an Idempotency-Key derived from run, instance and step, the
    same on every attempt and after a crash, so the step may be safely re-sent."""
    if not step.idempotency_key or any(k.lower() == "idempotency-key" for k in request.headers):
        return request
    headers = {**request.headers, "Idempotency-Key": IDEMPOTENCY_KEY + step.id}
    return request.model_copy(update={"headers": headers})


def _merge(base: RequestSpec | None, override: RequestSpec | None) -> RequestSpec:
    """A step's request over its template: the step's keys win, headers (case-insensitive),
    query and cookies merge, and a step body replaces the template's body."""
    if base is None or override is None:
        return override or base or RequestSpec()
    given = {k: getattr(override, k) for k in override.model_fields_set}
    update: dict[str, Any] = dict(given)
    if any(getattr(override, k) is not None for k in BODY_KEYS):
        update.update({k: getattr(override, k) for k in BODY_KEYS})
    update["headers"] = _merge_headers(base.headers, override.headers)
    update["query"] = {**base.query, **override.query}
    update["cookies"] = {**base.cookies, **override.cookies}
    return base.model_copy(update=update)


def _merge_headers(base: dict[str, str], override: dict[str, str]) -> dict[str, str]:
    replaced = {name.lower() for name in override}
    return {**{k: v for k, v in base.items() if k.lower() not in replaced}, **override}


def _request_plan(request: RequestSpec, r: Resolver) -> art.RequestPlan:
    return art.RequestPlan(
        method=(request.method or ("POST" if _has_body(request) else "GET")).upper(),
        url=str(r.text(request.url or "")),
        headers={k: _text(r.resolve(v)) for k, v in request.headers.items()},
        query=r.resolve(request.query),
        cookies={k: _text(r.resolve(v)) for k, v in request.cookies.items()},
        body=_body_plan(request, r),
        auth=_auth_plan(request.auth, r),
        timeout_ms=request.timeout if request.timeout is not None else DEFAULT_TIMEOUT_MS,
        follow_redirects=request.follow_redirects is not False,
        verify_tls=request.verify_tls is not False,
    )


def _has_body(request: RequestSpec) -> bool:
    return any(getattr(request, key) is not None for key in BODY_KEYS)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else to_text(value)


def _body_plan(request: RequestSpec, r: Resolver) -> art.BodyPlan | None:
    if request.json_body is not None:
        return art.BodyPlan(kind="json", value=r.resolve(request.json_body))
    if request.body is not None:
        return art.BodyPlan(kind="text", value=r.text(request.body))
    if request.form is not None:
        return art.BodyPlan(kind="form", value=r.resolve(request.form))
    if request.graphql is not None:
        return art.BodyPlan(kind="graphql", value=r.resolve(request.graphql.model_dump()))
    if request.multipart is not None:
        parts = {k: _part(v, r) for k, v in request.multipart.items()}
        return art.BodyPlan(kind="multipart", parts=parts)
    return None


def _part(value: Any, r: Resolver) -> art.MultipartPart:
    if isinstance(value, dict) and ("file" in value or "value" in value):
        return art.MultipartPart(**r.resolve(value))
    return art.MultipartPart(value=r.resolve(value))


def _auth_plan(auth: AuthSpec | None, r: Resolver) -> art.AuthPlan | None:
    if auth is None:
        return None
    if auth.basic is not None:
        return art.AuthPlan(
            kind="basic", username=r.text(auth.basic.username), password=r.text(auth.basic.password)
        )
    if auth.bearer is not None:
        return art.AuthPlan(kind="bearer", token=r.text(auth.bearer))
    if auth.oauth2_client_credentials is not None:
        spec = r.resolve(auth.oauth2_client_credentials.model_dump())
        return art.AuthPlan(kind="oauth2_client_credentials", **spec)
    return None


def _output_plan(name: str, output: OutputSpec, r: Resolver) -> art.OutputPlan:
    return art.OutputPlan(
        name=name,
        source=output.source,
        path=output.path,
        regex=output.regex,
        group=output.group,
        key=output.name,
        secret=output.secret,
        default=r.resolve(output.default),
        has_default=output.has_default,
    )


def _assertion_plan(assertion: AssertionSpec, r: Resolver) -> art.AssertionPlan:
    expected = r.resolve(assertion.expected)
    if assertion.type == "response_time" and isinstance(expected, str) and "{{" not in expected:
        expected = duration_ms(expected)
    return art.AssertionPlan(
        type=assertion.type,
        operator=effective_operator(assertion),
        expected=expected,
        path=assertion.path,
        key=assertion.name,
        json_schema=assertion.schema_,
    )


def _retry_plan(step: StepSpec) -> art.RetryPlan:
    if step.retry is None:
        return art.RetryPlan()
    spec = step.retry
    return art.RetryPlan(
        attempts=spec.attempts,
        interval_ms=spec.interval,
        backoff=spec.backoff,
        max_interval_ms=spec.max_interval,
        until=spec.until,
    )


def _when(when: str | bool | None, r: Resolver) -> str | None:
    if when is None or when is True:
        return None
    if when is False:
        return "{{ false }}"
    text = when if "{{" in when else "{{ " + when + " }}"
    resolved = r.text(text)
    return resolved if isinstance(resolved, str) else make_template((Literal(resolved),)).source()


# ------------------------------------------------------------- needs/source


def _needs(journey: Journey, steps: tuple[art.StepPlan, ...]) -> art.Needs:
    found: dict[str, set[str]] = {"inputs": set(), "env": set(), "secrets": set(), "me": set()}
    for step in steps:
        for text in strings_in(step.model_dump(mode="json")):
            if "{{" in text:
                for ref in template_refs(parse_template(text)):
                    if ref.root in found and ref.path:
                        found[ref.root].add(str(ref.path[0]))
    found["inputs"] |= {i.name for i in journey.inputs if i.required}
    return art.Needs(
        inputs=tuple(sorted(found["inputs"])),
        environment=tuple(sorted(found["env"])),
        secrets=tuple(sorted(found["secrets"])),
        me=tuple(sorted(found["me"])),
    )


def _source_info(parsed: ParsedJourney) -> art.SourceInfo:
    assert parsed.journey is not None
    positions: dict[str, tuple[int, int]] = {}
    for index, step in enumerate(parsed.journey.journey.steps):
        base: PathKey = ("journey", "steps", index)
        keys: list[tuple[PathKey, str]] = [((), f"steps.{index}")]
        keys += [
            (("assertions", n), f"steps.{index}.assertions.{n}")
            for n in range(len(step.assertions))
        ]
        keys += [(("outputs", name), f"steps.{index}.outputs.{name}") for name in step.outputs]
        for suffix, name in keys:
            pos = parsed.position((*base, *suffix))
            if pos is not None:
                positions[name] = (pos.line, pos.column)
    lines = parsed.source.text.splitlines()
    texts = {k: lines[v[0] - 1].strip() for k, v in positions.items() if v[0] <= len(lines)}
    digest = hashlib.sha256(parsed.source.text.encode()).hexdigest()
    return art.SourceInfo(path=parsed.source.file, sha256=digest, positions=positions, lines=texts)
