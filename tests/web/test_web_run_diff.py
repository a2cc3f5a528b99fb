"""`diff_runs`: what changed between two runs, from stored instance results.

Results are the engine's own models (InstanceResult, StepResult, ...) stored the way
the store stores them (`model_dump(mode="json")`), so the diff reads exactly what
/runs/{id}/diff reads.
"""

from __future__ import annotations

from datetime import UTC, datetime

from reqflo.cloud.web.run_diff import Timing, diff_runs
from reqflo.runner.results import (
    AssertionResult,
    Attempt,
    InstanceResult,
    ResponseRecord,
    StepResult,
    Timings,
)
from reqflo.store import InstanceRecord, RunRecord


def run(run_id: str) -> RunRecord:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    return RunRecord(
        id=run_id, artifact_id="a" * 12, journey="J", environment="demo", status="passed",
        idempotency_key=None, trigger="api", rerun_of=None, case=None, inputs={}, rows=None,
        data_key=None, concurrency=1, total=1, passed=1, failed=0, errored=0, error=None,
        created_at=moment, started_at=moment, finished_at=moment, requested_by="t",
    )  # fmt: skip


def step(step_id: str, status: str, http: int, ms: float, *passed: bool) -> StepResult:
    checks = tuple(
        AssertionResult(index=n, type="json_path", operator="equals", passed=ok, path="$.x")
        for n, ok in enumerate(passed)
    )
    response = ResponseRecord(status=http, timings=Timings(total_ms=ms))
    attempt = Attempt(number=1, response=response, assertions=checks)
    return StepResult(
        index=0, id=step_id, name=step_id, status=status,  # type: ignore[arg-type]
        attempts=(attempt,), duration_ms=ms,
    )  # fmt: skip


def instance(index: int, key: str, status: str, *steps: StepResult) -> InstanceRecord:
    result = InstanceResult(index=index, key=key, status=status, steps=steps)  # type: ignore[arg-type]
    return InstanceRecord("r", index, key, status, result.model_dump(mode="json"), 1.0)


def test_status_response_and_assertion_changes_are_listed() -> None:
    login_a, login_a2 = (
        step("login", "passed", 200, 10, True),
        step("login", "passed", 200, 14, True),
    )
    old = [
        instance(0, "a", "passed", login_a, step("get", "passed", 200, 20, True, True)),
        instance(1, "b", "passed", step("login", "passed", 200, 30, True)),
        instance(2, "gone", "failed", step("login", "failed", 401, 5, False)),
    ]  # fmt: skip
    new = [
        instance(0, "a", "failed", login_a2, step("get", "failed", 500, 40, True, False)),
        instance(1, "b", "passed", step("login", "passed", 200, 30, True)),
        instance(2, "new", "passed", step("login", "passed", 200, 5, True)),
    ]  # fmt: skip
    diff = diff_runs(run("old"), run("new"), old, new)
    changes = {(c.key, c.old, c.new) for c in diff.instances}
    assert changes == {("a", "passed", "failed"), ("new", None, "passed"), ("gone", "failed", None)}
    assert diff.unchanged == 1  # b
    (only,) = diff.steps
    assert (only.key, only.step, only.old_status, only.new_status) == (
        "a",
        "get",
        "passed",
        "failed",
    )
    assert (only.old_http, only.new_http) == (200, 500)
    assert [(a.label, a.old, a.new) for a in only.assertions] == [
        ("json_path $.x equals", True, False)
    ]
    timings = {t.step: t for t in diff.timings}
    assert timings["get"].delta_ms == 20 and timings["get"].delta_text == "+20.0 ms (+100%)"
    assert timings["login"].old_ms == 15 and timings["login"].new_ms == (14 + 30 + 5) / 3


def test_same_status_with_a_changed_step_is_not_counted_unchanged() -> None:
    old = [instance(0, "k", "failed", step("s", "failed", 500, 10, False))]
    new = [instance(0, "k", "failed", step("s", "failed", 503, 10, False))]
    diff = diff_runs(run("old"), run("new"), old, new)
    assert diff.instances == () and diff.unchanged == 0
    assert [(s.old_http, s.new_http) for s in diff.steps] == [(500, 503)]


def test_timing_texts() -> None:
    assert Timing("s", None, 5).delta_text == "—"
    assert Timing("s", 2000, 500).delta_text == "−1.50 s (−75%)"
    assert Timing("s", 0, 3).delta_text == "+3.0 ms"
