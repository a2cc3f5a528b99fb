"""`step_diff`: the step section of /runs/{id}/diff (step changes, timings, unchanged
instances), from stored instance results paired by key as `DiffViews.pairs` pairs them.
Status changes and counts are compared in the database (tests/test_run_diff.py).

Results are the engine's own models (InstanceResult, StepResult, ...) stored the way
the store stores them (`model_dump(mode="json")`).
"""

from __future__ import annotations

from typing import Any

from reqflo.cloud.web.run_diff import StepDiff, Timing, step_diff
from reqflo.runner.results import (
    AssertionResult,
    Attempt,
    InstanceResult,
    ResponseRecord,
    StepResult,
    Timings,
)
from reqflo.store.run_diff_views import pair_up


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


def instance(index: int, key: str, status: str, *steps: StepResult) -> tuple[str, dict[str, Any]]:
    """A stored instance as `pair_up` takes it: (key, result as the store keeps it)."""
    result = InstanceResult(index=index, key=key, status=status, steps=steps)  # type: ignore[arg-type]
    return key, result.model_dump(mode="json")


def diff(old: list[tuple[str, dict[str, Any]]], new: list[tuple[str, dict[str, Any]]]) -> StepDiff:
    return step_diff(pair_up(sorted(old, key=lambda r: r[0]), sorted(new, key=lambda r: r[0])))


def test_response_and_assertion_changes_and_timings_are_listed() -> None:
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
    found = diff(old, new)
    assert found.unchanged == 1  # b
    (only,) = found.steps
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
    timings = {t.step: t for t in found.timings}
    assert timings["get"].delta_ms == 20 and timings["get"].delta_text == "+20.0 ms (+100%)"
    assert timings["login"].old_ms == 15 and timings["login"].new_ms == (14 + 30 + 5) / 3


def test_same_status_with_a_changed_step_is_not_counted_unchanged() -> None:
    old = [instance(0, "k", "failed", step("s", "failed", 500, 10, False))]
    new = [instance(0, "k", "failed", step("s", "failed", 503, 10, False))]
    found = diff(old, new)
    assert found.unchanged == 0
    assert [(s.old_http, s.new_http) for s in found.steps] == [(500, 503)]


def test_timing_texts() -> None:
    assert Timing("s", None, 5).delta_text == "—"
    assert Timing("s", 2000, 500).delta_text == "−1.50 s (−75%)"
    assert Timing("s", 0, 3).delta_text == "+3.0 ms"
