"""A realistic sample run, as events, for previewing reporters and for their tests.

Owns `sample_single_run` (one instance whose steps pass, fail after retries, error and
skip) and `sample_data_run` (a generator of N instances, some failing), built by hand
from the result models exactly as the engine emits them (already redacted).
`python tests/report_samples.py report.html` writes a preview HTML report.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

from reqflo.runner.events import (
    AnyEvent,
    InstanceFinished,
    InstanceStarted,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from reqflo.runner.results import (
    AssertionResult,
    Attempt,
    InstanceResult,
    RequestRecord,
    ResponseRecord,
    RunSummary,
    StepError,
    StepResult,
    Timings,
)

BASE = "https://orders.example.test"
ARTIFACT = "9f2c4e1ab37d5c0e8f61b2a4c9d7e3f05a6b8c1d2e4f60718293a4b5c6d7e8f9"
MASK = "[REDACTED]"
JOURNEY = "Create and verify order"
STARTED = 1_764_064_800.0


def exchange(
    method: str, path: str, status: int, body: Any, ms: float, sent: Any = None
) -> tuple[RequestRecord, ResponseRecord]:
    """A redacted request and its JSON response, as the engine records them."""
    reasons = {200: "OK", 201: "Created", 404: "Not Found", 500: "Internal Server Error"}
    text = json.dumps(body, separators=(",", ":"))
    request = RequestRecord(
        method=method,
        url=f"{BASE}{path}",
        headers=(("Authorization", MASK), ("Accept", "application/json")),
        body=None if sent is None else json.dumps(sent),
    )
    response = ResponseRecord(
        status=status,
        reason=reasons.get(status, ""),
        headers=(("Content-Type", "application/json"), ("X-Request-Id", "req-7f3a")),
        body=text,
        body_size=len(text.encode()),
        url=f"{BASE}{path}",
        timings=Timings(total_ms=ms),
    )
    return request, response


def check(
    index: int,
    kind: str,
    passed: bool,
    expected: Any,
    actual: Any,
    operator: str = "equals",
    path: str | None = None,
) -> AssertionResult:
    """An assertion result with the journey line it came from."""
    target = f", path: '{path}'" if path else ""
    wanted = f", expected: {json.dumps(expected)}" if expected is not None else ""
    return AssertionResult(
        index=index,
        type=kind,
        operator=operator,
        passed=passed,
        expected=expected,
        actual=actual,
        path=path,
        source_line=30 + index * 2,
        source_text=f"- {{type: {kind}{target}, operator: {operator}{wanted}}}",
    )


def _login() -> StepResult:
    request, response = exchange(
        "POST", "/auth/login", 200, {"token": MASK, "expires_in": 3600}, 84.2, {"user": "demo"}
    )
    checks = (check(0, "status_code", True, 200, 200),)
    attempt = Attempt(number=1, request=request, response=response, assertions=checks)
    return StepResult(
        index=0,
        id="login",
        name="Log in",
        status="passed",
        attempts=(attempt,),
        outputs={"token": MASK},
        duration_ms=86.0,
    )


def _create_order() -> StepResult:
    order = {"order": {"id": "ord-981", "customer_id": "c-42", "quantity": 2, "status": "new"}}
    request, response = exchange(
        "POST", "/orders", 201, order, 143.7, {"customer_id": "c-42", "quantity": 2}
    )
    checks = (
        check(1, "status_code", True, 201, 201),
        check(2, "json_path", True, None, "ord-981", operator="exists", path="$.order.id"),
    )
    attempt = Attempt(number=1, request=request, response=response, assertions=checks)
    return StepResult(
        index=1,
        id="create_order",
        name="Create order",
        status="passed",
        attempts=(attempt,),
        outputs={"order_id": "ord-981"},
        duration_ms=145.1,
    )


def _verify_order() -> StepResult:
    attempts = []
    for number, seen in enumerate((["ord-975"], ["ord-975", "ord-977"], ["ord-975", "ord-977"])):
        body = {"orders": [{"id": i, "status": "new"} for i in seen]}
        request, response = exchange("GET", "/orders?customer_id=c-42", 200, body, 60.0 + number)
        checks = (
            check(3, "json_path", False, "ord-981", seen, "contains", "$.orders[*].id"),
            check(4, "response_time", True, "800ms", 60.0 + number, "lt"),
        )
        attempts.append(
            Attempt(number=number + 1, request=request, response=response, assertions=checks)
        )
    return StepResult(
        index=2,
        id="verify_order",
        name="Verify order is listed",
        status="failed",
        attempts=tuple(attempts),
        duration_ms=1_712.4,
    )


def _cancel_order() -> StepResult:
    request = RequestRecord(
        method="DELETE", url=f"{BASE}/orders/ord-981", headers=(("Authorization", MASK),)
    )
    error = StepError(code="timeout", message="no response within 5s (DELETE /orders/ord-981)")
    attempt = Attempt(number=1, request=request, error=error)
    return StepResult(
        index=3,
        id="cancel_order",
        name="Cancel order",
        status="error",
        attempts=(attempt,),
        error=error,
        duration_ms=5_003.0,
    )


def _notify() -> StepResult:
    reason = "when: steps.cancel_order.status == 204 was false"
    return StepResult(index=4, id="notify", name="Notify", status="skipped", skipped_reason=reason)


def sample_steps() -> tuple[StepResult, ...]:
    return (_login(), _create_order(), _verify_order(), _cancel_order(), _notify())


def sample_single_run(run_id: str = "run-2f9c") -> list[AnyEvent]:
    """One instance: passed, passed, failed after 3 attempts, error (timeout), skipped."""
    steps = sample_steps()
    events: list[AnyEvent] = [
        RunStarted(
            run_id=run_id,
            artifact_id=ARTIFACT,
            journey=JOURNEY,
            environment="staging",
            total=1,
            started_at=STARTED,
        ),
        InstanceStarted(instance=0, key="c-42"),
    ]
    for step in steps:
        events.append(StepStarted(instance=0, step=step.index, step_id=step.id))
        events.append(StepFinished(instance=0, result=step))
    instance = InstanceResult(
        index=0,
        key="c-42",
        status="error",
        steps=steps,
        inputs={"customer_id": "c-42", "quantity": 2},
        started_at=STARTED,
        duration_ms=6_950.0,
        logs=("retrying verify_order",),
    )
    events.append(InstanceFinished(result=instance))
    events.append(RunFinished(summary=summary(run_id, 1, 0, 0, 1, 6_950.0)))
    return events


def summary(
    run_id: str, total: int, passed: int, failed: int, errored: int, ms: float
) -> RunSummary:
    status = "error" if errored else "failed" if failed else "passed"
    return RunSummary(
        run_id=run_id,
        artifact_id=ARTIFACT,
        journey=JOURNEY,
        environment="staging",
        status=status,
        total=total,
        passed=passed,
        failed=failed,
        errored=errored,
        started_at=STARTED,
        duration_ms=ms,
    )


def data_instance(index: int, status: str) -> InstanceResult:
    """Instance `index` of a data run: passed, failed (wrong status code) or error (timeout)."""
    key = f"customer-{index:05d}"
    code = {"passed": 201, "failed": 500}.get(status, 0)
    steps = [_login()]
    if status == "error":
        steps.append(_cancel_order().model_copy(update={"index": 1}))
    else:
        request, response = exchange("POST", "/orders", code, {"customer": key}, 20.0)
        checks = (check(1, "status_code", code == 201, 201, code),)
        attempt = Attempt(number=1, request=request, response=response, assertions=checks)
        steps.append(
            StepResult(
                index=1,
                id="create_order",
                name="Create order",
                status="passed" if code == 201 else "failed",
                attempts=(attempt,),
                duration_ms=21.0,
            )
        )
    return InstanceResult(
        index=index,
        key=key,
        status="error" if status == "error" else steps[-1].status,
        steps=tuple(steps),
        inputs={"customer_id": key},
        started_at=STARTED,
        duration_ms=107.0,
    )


def sample_data_run(
    count: int, fail_every: int = 10, error_every: int = 50, run_id: str = "run-data"
) -> Iterator[AnyEvent]:
    """A data run of `count` instances, generated lazily (no list of results is kept)."""
    yield RunStarted(
        run_id=run_id,
        artifact_id=ARTIFACT,
        journey=JOURNEY,
        environment="staging",
        total=count,
        started_at=STARTED,
    )
    tally = {"passed": 0, "failed": 0, "error": 0}
    for index in range(count):
        status = "passed"
        if error_every and index % error_every == error_every - 1:
            status = "error"
        elif fail_every and index % fail_every == fail_every - 1:
            status = "failed"
        tally[status] += 1
        yield InstanceStarted(instance=index, key=f"customer-{index:05d}")
        yield InstanceFinished(result=data_instance(index, status))
    yield RunFinished(
        summary=summary(run_id, count, tally["passed"], tally["failed"], tally["error"], 9_500.0)
    )


def main(argv: list[str]) -> int:
    from reqflo.report.html import HtmlReporter

    path = argv[0] if argv else "reqflo-sample-report.html"
    reporter = HtmlReporter(path)
    for event in sample_single_run():
        reporter.handle(event)
    reporter.close()
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
