"""Run results as data: what was sent, what came back, every assertion and error.

Owns the frozen result models shared by the engine, the reporters, the store and the
Cloud Runner. Everything here is already redacted when it leaves the engine.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

StepStatus = Literal["passed", "failed", "error", "skipped", "indeterminate"]
InstanceStatus = Literal["passed", "failed", "error", "indeterminate", "cancelled"]

# Stable error codes (the `code` of a StepError).
ERROR_CODES = (
    "missing-secret",
    "missing-input",
    "invalid-input",
    "missing-environment-value",
    "unresolved-reference",
    "connection-error",
    "timeout",
    "tls-error",
    "invalid-response",
    "too-many-redirects",
    "invalid-request",
    "indeterminate",
    "internal-error",
)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class RequestRecord(Frozen):
    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    body_truncated: bool = False


class Timings(Frozen):
    total_ms: float


class ResponseRecord(Frozen):
    status: int
    reason: str = ""
    http_version: str = "1.1"
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    body_size: int = 0
    body_truncated: bool = False
    url: str = ""
    timings: Timings


class AssertionResult(Frozen):
    index: int
    type: str
    operator: str
    passed: bool
    expected: Any = None
    actual: Any = None
    path: str | None = None
    key: str | None = None
    message: str = ""
    source_line: int | None = None
    source_text: str | None = None


class StepError(Frozen):
    code: str
    message: str


class Attempt(Frozen):
    number: int
    request: RequestRecord | None = None
    response: ResponseRecord | None = None
    assertions: tuple[AssertionResult, ...] = ()
    error: StepError | None = None
    started_at: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and all(a.passed for a in self.assertions)


class StepResult(Frozen):
    index: int
    id: str
    name: str
    status: StepStatus
    attempts: tuple[Attempt, ...] = ()
    outputs: dict[str, Any] = Field(default_factory=dict)
    error: StepError | None = None
    duration_ms: float = 0.0
    skipped_reason: str | None = None

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def assertions(self) -> tuple[AssertionResult, ...]:
        return self.last.assertions if self.last else ()


class InstanceResult(Frozen):
    """One execution of the journey for one set of values (one data row)."""

    index: int
    key: str
    status: InstanceStatus
    steps: tuple[StepResult, ...] = ()
    error: StepError | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    started_at: float = 0.0
    duration_ms: float = 0.0
    logs: tuple[str, ...] = ()

    @property
    def failed_assertions(self) -> int:
        return sum(1 for s in self.steps for a in s.assertions if not a.passed)


class RunSummary(Frozen):
    """What a run group ended with; instances stream to reporters, not kept here."""

    run_id: str
    artifact_id: str
    journey: str
    environment: str | None = None
    status: InstanceStatus
    total: int
    passed: int
    failed: int
    errored: int
    started_at: float
    duration_ms: float
    cancelled: int = 0  # rows never started (--fail-fast stopped the run, or a cancel)


def summarize_status(passed: int, failed: int, errored: int, indeterminate: int = 0) -> str:
    if errored:
        return "error"
    if indeterminate:
        return "indeterminate"
    if failed:
        return "failed"
    return "passed"


def exit_code(summary: RunSummary) -> int:
    """Spec §4: 0 passed, 1 assertion failed, 3 step error; 2 and 4 come from the CLI."""
    if summary.errored:
        return 3
    if summary.failed:
        return 1
    return 0
