"""What changed between two runs of a journey: the data behind /runs/{id}/diff.

Owns `diff_runs(old, new, old_instances, new_instances)` → `RunDiff`: instances matched
by key (data row key, or the case for single runs) with their status changes, added
and removed keys; steps matched by (instance key, step id) with status, response
status and assertion outcome changes (assertions matched by their index in the step);
and per step the mean duration over the instances of each run with its delta. Only
changes are listed; what stayed the same is counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from reqflo.runner.results import AssertionResult, InstanceResult, StepResult
from reqflo.store import InstanceRecord, RunRecord


@dataclass(frozen=True)
class InstanceChange:
    key: str
    old: str | None  # None: the key is new in this run
    new: str | None  # None: the key is gone


@dataclass(frozen=True)
class AssertionChange:
    label: str
    old: bool | None
    new: bool | None


@dataclass(frozen=True)
class StepChange:
    key: str
    step: str
    old_status: str | None
    new_status: str | None
    old_http: int | None
    new_http: int | None
    assertions: tuple[AssertionChange, ...]


@dataclass(frozen=True)
class Timing:
    step: str
    old_ms: float | None
    new_ms: float | None

    @property
    def delta_ms(self) -> float | None:
        if self.old_ms is None or self.new_ms is None:
            return None
        return self.new_ms - self.old_ms

    @property
    def delta_pct(self) -> float | None:
        delta = self.delta_ms
        return None if delta is None or not self.old_ms else 100.0 * delta / self.old_ms

    @property
    def delta_text(self) -> str:
        """'+12.3 ms (+25%)', '−1.50 s (−40%)' or '—'."""
        delta, pct = self.delta_ms, self.delta_pct
        if delta is None:
            return "—"
        sign = "+" if delta >= 0 else "−"
        size = abs(delta)
        amount = f"{size:.1f} ms" if size < 1000 else f"{size / 1000:.2f} s"
        return f"{sign}{amount}" + (f" ({sign}{abs(pct):.0f}%)" if pct is not None else "")


@dataclass(frozen=True)
class RunDiff:
    old: RunRecord
    new: RunRecord
    instances: tuple[InstanceChange, ...]
    steps: tuple[StepChange, ...]
    timings: tuple[Timing, ...]
    unchanged: int  # instances present in both with the same status and no step change


def results(records: Iterable[InstanceRecord]) -> dict[str, InstanceResult]:
    return {r.key: InstanceResult.model_validate(r.result) for r in records}


def diff_runs(
    old: RunRecord, new: RunRecord,
    old_instances: Iterable[InstanceRecord], new_instances: Iterable[InstanceRecord],
) -> RunDiff:  # fmt: skip
    before, after = results(old_instances), results(new_instances)
    keys = list(after) + [k for k in before if k not in after]
    instances, steps, unchanged = [], [], 0
    for key in keys:
        was, now = before.get(key), after.get(key)
        changes = step_changes(key, was, now) if was and now else []
        steps += changes
        if was and now and was.status == now.status and not changes:
            unchanged += 1
        elif not (was and now and was.status == now.status):
            instances.append(InstanceChange(key, _status(was), _status(now)))
    timings = step_timings(before.values(), after.values())
    return RunDiff(old, new, tuple(instances), tuple(steps), timings, unchanged)


def _status(result: InstanceResult | None) -> str | None:
    return result.status if result else None


def step_changes(key: str, was: InstanceResult, now: InstanceResult) -> list[StepChange]:
    old_steps = {s.id: s for s in was.steps}
    new_steps = {s.id: s for s in now.steps}
    ids = list(new_steps) + [i for i in old_steps if i not in new_steps]
    found = []
    for step_id in ids:
        a, b = old_steps.get(step_id), new_steps.get(step_id)
        change = StepChange(
            key, step_id, a.status if a else None, b.status if b else None,
            _http(a), _http(b), assertion_changes(a, b),
        )  # fmt: skip
        if _changed(change):
            found.append(change)
    return found


def _changed(change: StepChange) -> bool:
    return (
        change.old_status != change.new_status
        or change.old_http != change.new_http
        or bool(change.assertions)
    )


def _http(step: StepResult | None) -> int | None:
    last = step.last if step else None
    return last.response.status if last and last.response else None


def assertion_changes(a: StepResult | None, b: StepResult | None) -> tuple[AssertionChange, ...]:
    old = {x.index: x for x in (a.assertions if a else ())}
    new = {x.index: x for x in (b.assertions if b else ())}
    changes = []
    for index in sorted(set(old) | set(new)):
        was, now = old.get(index), new.get(index)
        before, after = (was.passed if was else None), (now.passed if now else None)
        if before != after:
            changes.append(AssertionChange(label(now or was), before, after))
    return tuple(changes)


def label(assertion: AssertionResult | None) -> str:
    if assertion is None:
        return ""
    if assertion.source_text:
        return assertion.source_text
    target = assertion.path or assertion.key or ""
    return " ".join(p for p in (assertion.type, target, assertion.operator) if p)


def step_timings(
    before: Iterable[InstanceResult], after: Iterable[InstanceResult]
) -> tuple[Timing, ...]:
    old, new = _mean_durations(before), _mean_durations(after)
    order = list(new) + [s for s in old if s not in new]
    return tuple(Timing(step, old.get(step), new.get(step)) for step in order)


def _mean_durations(results: Iterable[InstanceResult]) -> dict[str, float]:
    sums: dict[str, list[float]] = defaultdict(list)
    for result in results:
        for step in result.steps:
            if step.status != "skipped":
                sums[step.id].append(step.duration_ms)
    return {step: sum(values) / len(values) for step, values in sums.items()}


__all__ = ["RunDiff", "diff_runs"]
