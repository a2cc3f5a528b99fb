"""The compiler's step plans: a journey step → the `StepPlan` of the artifact.

Owns template merging (a step's request over its template: headers case-insensitively,
query and cookies merged, one body), the request plan (method, url, headers, body, auth,
defaults such as the timeout), the derived Idempotency-Key, and the plans of outputs,
assertions (effective operator, durations in milliseconds), retry and `when:`; every
template in them goes through the step's `Resolver` (`reqflo.compiler_resolve`).
"""

from __future__ import annotations

from typing import Any

from reqflo import artifact as art
from reqflo.checks import parse_duration_ms as duration_ms
from reqflo.compiler_resolve import Resolver
from reqflo.journey.model import (
    AssertionSpec,
    AuthSpec,
    Journey,
    OutputSpec,
    RequestSpec,
    StepSpec,
)
from reqflo.journey.semantics import effective_operator
from reqflo.values import Literal, make_template, to_text

DEFAULT_TIMEOUT_MS = 30_000
BODY_KEYS = ("json_body", "body", "form", "multipart", "graphql")


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
