"""One step of one instance: `when`, build, send, outputs, assertions, retry.

Owns `run_step`, which turns a `StepPlan` into a `StepResult` (always data, never an
exception for a failed assertion or a transport problem) and records the step in the
instance scope so later steps can reference `steps.ID...`.

Attempt semantics: an attempt is *done* when it has no error, no output is missing and
(`until: assertions_pass`) every assertion passed, or (`until: status_ok`) the status is
2xx. Otherwise, while attempts remain, the step sleeps `interval_ms` scaled by the
backoff (`constant`: ×1, `linear`: ×n, `exponential`: ×2ⁿ⁻¹, capped at `max_interval_ms`)
and tries again. Transport errors are retried; errors that cannot change between
attempts (an unresolved reference, an invalid request) are not. Every attempt is kept.

Run-wide limits (cloud runner settings, carried in `StepDeps`; the defaults change
nothing): `step_timeout_s` caps every request's timeout (a smaller step timeout wins);
`transport_retries` grants that many extra attempts, each after
`transport_retry_backoff_s`, once the step's own attempts are used up and the last one
ended in a transport error (`TRANSPORT_ERROR_CODES`).
An output marked `secret: true` joins the instance's redactor as soon as it is extracted,
before any evidence of that response is recorded. An output that cannot be extracted
(and has no default) is noted in the instance log and counts as "not done" for retry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from reqflo.artifact import Artifact, RetryPlan, StepPlan
from reqflo.checks import Check, evaluate_assertion, extract_output
from reqflo.http import CookieStore, HttpRequest, HttpResponse, Transport, TransportError
from reqflo.runner.build import BuildContext, BuildError, OAuthTokens, build_request
from reqflo.runner.evidence import (
    BODY_LIMIT,
    Redacts,
    assertion_result,
    request_record,
    response_record,
    step_error,
)
from reqflo.runner.results import AssertionResult, Attempt, StepResult
from reqflo.runner.scope import InstanceScope, StepView
from reqflo.values import (
    Expr,
    UnresolvedReference,
    evaluate,
    parse_expression,
    parse_template,
    render,
    render_value,
    strings_in,
)

_FALSY_TEXT = frozenset({"", "false", "0", "no", "off", "null", "none"})
_FINAL_CODES = frozenset({"unresolved-reference", "invalid-request"})
TRANSPORT_ERROR_CODES = frozenset({"connection-error", "timeout", "tls-error", "invalid-response"})


@dataclass(frozen=True)
class StepDeps:
    """Run-wide collaborators every step of every instance shares."""

    artifact: Artifact
    transport: Transport
    base_dir: Path
    tokens: OAuthTokens
    body_limit: int = BODY_LIMIT
    step_timeout_s: float | None = None  # cap on every request's timeout; None: no cap
    transport_retries: int = 0  # extra attempts after transport errors
    transport_retry_backoff_s: float = 0.0


@dataclass
class InstanceState:
    """Mutable per-instance state: scope, redactor, cookie store and log lines."""

    scope: InstanceScope
    redactor: Redacts
    cookies: CookieStore
    logs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Outcome:
    attempt: Attempt
    response: HttpResponse | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    complete: bool = True  # every output was extracted
    final: bool = False  # retrying cannot help


async def run_step(index: int, deps: StepDeps, state: InstanceState) -> StepResult:
    step = deps.artifact.plan.steps[index]
    started = time.perf_counter()
    skip_reason = _skip_reason(step, state)
    if isinstance(skip_reason, Attempt):
        return _finish(step, index, state, [], _Outcome(skip_reason, final=True), started)
    if skip_reason is not None:
        state.scope.record(step.id, StepView({}))
        return StepResult(
            index=index, id=step.id, name=step.name, status="skipped", skipped_reason=skip_reason
        )
    attempts: list[Attempt] = []
    planned, extra = max(1, step.retry.attempts), deps.transport_retries
    while True:
        number = len(attempts) + 1
        outcome = await _attempt(step, index, number, deps, state)
        attempts.append(outcome.attempt)
        if outcome.final or _done(outcome, step.retry):
            break
        if number < planned:
            await asyncio.sleep(retry_delay_ms(step.retry, number) / 1000)
        elif extra > 0 and _transport_failed(outcome):
            extra -= 1
            await asyncio.sleep(deps.transport_retry_backoff_s)
        else:
            break
    return _finish(step, index, state, attempts, outcome, started)


def _transport_failed(outcome: _Outcome) -> bool:
    error = outcome.attempt.error
    return error is not None and error.code in TRANSPORT_ERROR_CODES


def _skip_reason(step: StepPlan, state: InstanceState) -> str | Attempt | None:
    """None to run the step, a reason to skip it, or an errored Attempt."""
    if step.when is None:
        return None
    try:
        value = evaluate_when(step.when, state.scope)
    except UnresolvedReference as exc:
        error = step_error("unresolved-reference", f"when: {exc}", state.redactor)
        return Attempt(number=1, error=error, started_at=time.time())
    return None if truthy(value) else f"when: {step.when} is false"


def evaluate_when(condition: str, scope: Mapping[str, Any]) -> Any:
    """A `when` condition: a template (`{{ ... }}`) or a bare expression."""
    if "{{" in condition:
        return render(parse_template(condition), scope)
    return evaluate(_expression(condition), scope)


@lru_cache(maxsize=1024)
def _expression(text: str) -> Expr:
    return parse_expression(text)


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in _FALSY_TEXT
    return bool(value)


def retry_delay_ms(retry: RetryPlan, attempt_number: int) -> float:
    factor = {"constant": 1, "linear": attempt_number, "exponential": 2 ** (attempt_number - 1)}
    return float(min(retry.interval_ms * factor[retry.backoff], retry.max_interval_ms))


def _done(outcome: _Outcome, retry: RetryPlan) -> bool:
    attempt = outcome.attempt
    if attempt.error is not None or outcome.response is None:
        return False
    if retry.until == "status_ok":
        return 200 <= outcome.response.status < 300
    return outcome.complete and attempt.passed


async def _attempt(
    step: StepPlan, index: int, number: int, deps: StepDeps, state: InstanceState
) -> _Outcome:
    started_at = time.time()
    redactor = state.redactor
    try:
        request = await build_request(step.request, state.scope, _build_context(deps, state))
        request = capped_timeout(request, deps.step_timeout_s)
    except (UnresolvedReference, BuildError, TransportError, ValueError, TypeError) as exc:
        code = _build_error_code(exc)
        error = step_error(code, f"building the request: {exc}", redactor)
        return _Outcome(
            Attempt(number=number, error=error, started_at=started_at), final=code in _FINAL_CODES
        )
    try:
        response = await deps.transport.send(request, state.cookies)
    except TransportError as exc:
        record = request_record(request, redactor, deps.body_limit)
        error = step_error(exc.code, str(exc), redactor)
        return _Outcome(Attempt(number=number, request=record, error=error, started_at=started_at))
    outputs, complete = _extract_outputs(step, response, state)
    state.scope.record(step.id, StepView(outputs, response, response.elapsed_ms))
    assertions = _assertions(step, index, response, outputs, deps, state)
    attempt = Attempt(
        number=number,
        request=request_record(request, redactor, deps.body_limit),
        response=response_record(response, redactor, deps.body_limit),
        assertions=assertions,
        started_at=started_at,
    )
    return _Outcome(attempt, response, outputs, complete)


def capped_timeout(request: HttpRequest, cap_s: float | None) -> HttpRequest:
    """The request with its timeout capped at `cap_s` (None: unchanged)."""
    if cap_s is None or request.timeout_s <= cap_s:
        return request
    return replace(request, timeout_s=cap_s)


def _build_error_code(exc: Exception) -> str:
    if isinstance(exc, BuildError | TransportError):
        return exc.code
    if isinstance(exc, UnresolvedReference):
        return "unresolved-reference"
    return "invalid-request"  # a template function given unusable arguments


def _build_context(deps: StepDeps, state: InstanceState) -> BuildContext:
    async def send_aside(request: HttpRequest) -> HttpResponse:
        return await deps.transport.send(request, deps.transport.new_cookie_store())

    return BuildContext(deps.base_dir, deps.tokens, send_aside, state.redactor.add)


def _extract_outputs(
    step: StepPlan, response: HttpResponse, state: InstanceState
) -> tuple[dict[str, Any], bool]:
    outputs: dict[str, Any] = {}
    complete = True
    for plan in step.outputs:
        found = extract_output(plan, response)
        if not found.ok:
            complete = False
            state.logs.append(
                state.redactor.redact(
                    f"step {step.id}: output '{plan.name}' not found: {found.reason}"
                )
            )
            continue
        if plan.secret and found.value is not None:
            _add_secret(state.redactor, found.value)
        outputs[plan.name] = found.value
    return outputs, complete


def _add_secret(redactor: Redacts, value: Any) -> None:
    if isinstance(value, dict | list | tuple):
        for text in strings_in(value):
            redactor.add(text)
    else:
        redactor.add(value if isinstance(value, str) else str(value))


def _assertions(
    step: StepPlan,
    index: int,
    response: HttpResponse,
    outputs: Mapping[str, Any],
    deps: StepDeps,
    state: InstanceState,
) -> tuple[AssertionResult, ...]:
    results = []
    for i, assertion in enumerate(step.assertions):
        try:
            expected = render_value(assertion.expected, state.scope)
        except UnresolvedReference as exc:
            check = Check(
                i,
                assertion.type,
                assertion.operator,
                False,
                None,
                None,
                assertion.path,
                assertion.key,
                f"expected value: {exc}",
            )
        else:
            check = evaluate_assertion(
                i, assertion, response, expected, outputs, state.redactor.redact
            )
        source = deps.artifact.step_source(index, f"assertions.{i}")
        results.append(assertion_result(check, state.redactor, source))
    return tuple(results)


def _with_status_goal(step: StepPlan, last: _Outcome, attempt: Attempt) -> Attempt:
    """`until: status_ok` that never saw a 2xx fails the step, as a status check."""
    retry, response = step.retry, last.response
    if retry.until != "status_ok" or retry.attempts < 2 or response is None:
        return attempt
    if 200 <= response.status < 300 or attempt.error is not None:
        return attempt
    check = AssertionResult(
        index=len(step.assertions), type="status_code", operator="matches", passed=False,
        expected="2xx", actual=response.status,
        message=f"retry until status_ok: still {response.status} after {attempt.number} attempts",
    )  # fmt: skip
    return attempt.model_copy(update={"assertions": (*attempt.assertions, check)})


def _finish(
    step: StepPlan,
    index: int,
    state: InstanceState,
    attempts: list[Attempt],
    last: _Outcome,
    started: float,
) -> StepResult:
    if not attempts:
        attempts = [last.attempt]
    attempts[-1] = _with_status_goal(step, last, attempts[-1])
    duration_ms = (time.perf_counter() - started) * 1000
    error = last.attempt.error
    status = "error" if error else ("passed" if attempts[-1].passed else "failed")
    state.scope.record(step.id, StepView(last.outputs, last.response, duration_ms))
    return StepResult(
        index=index,
        id=step.id,
        name=step.name,
        status=status,
        attempts=tuple(attempts),
        outputs=state.redactor.redact_value(dict(last.outputs)) if last.outputs else {},
        error=error,
        duration_ms=round(duration_ms, 3),
    )
