"""What changed between two runs of a journey: the data behind /runs/{id}/diff.

Instances are matched by key (data row key, or the case for single runs; the n-th
instance with a key matches the n-th with that key in the other run) and listed in key
order. Owns `diff_page(store, old, new, after, limit)` → `RunDiff`: one page of the
instances whose status changed, appeared or disappeared and the whole diff's counts,
both computed by the database (reqflo.store.run_diff_views), and on the first page only
(it reads every result of both runs) the step section; and `step_diff(pairs)`: one
pass over both runs' results streamed in key order that keeps the first step changes
(status, response status, assertion outcomes; assertions matched by their index in the
step), counts all of them and the instances that did not change at all, and averages
each step's duration per run, so memory does not grow with the runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reqflo.runner.results import AssertionResult, InstanceResult, StepResult
from reqflo.store import RunRecord, Store
from reqflo.store.run_diff_views import (
    DiffCounts,
    DiffCursor,
    DiffViews,
    Pair,
    StatusChange,
)

STEPS_SHOWN = 200  # step changes listed; the rest are counted
InstanceChange = StatusChange  # key, old status (None: new), new status (None: gone)


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
class StepDiff:
    steps: tuple[StepChange, ...]  # the first ones, in key order
    total: int  # step changes in all
    timings: tuple[Timing, ...]
    unchanged: int  # instances in both runs with the same status and no step change


@dataclass(frozen=True)
class RunDiff:
    old: RunRecord
    new: RunRecord
    instances: tuple[InstanceChange, ...]  # one page of them, in key order
    steps: tuple[StepChange, ...]
    timings: tuple[Timing, ...]
    unchanged: int  # instances present in both with the same status and no step change
    counts: DiffCounts  # of the whole diff
    step_total: int
    next: str | None = None  # the cursor of the next page of instances
    first_page: bool = True  # False: no step section (steps, timings, unchanged are empty)


def diff_page(
    store: Store, old: RunRecord, new: RunRecord, after: DiffCursor | None, limit: int
) -> RunDiff:
    """One page of changed instances with the whole diff's counts; the first page (`after`
    None) also has the step section, which reads and validates every result of both runs."""
    views = DiffViews(store)
    page = views.status_changes(old.id, new.id, after, limit)
    first = after is None
    steps = step_diff(views.pairs(old.id, new.id)) if first else StepDiff((), 0, (), 0)
    return RunDiff(old, new, page.changes, steps.steps, steps.timings, steps.unchanged,
                   views.counts(old.id, new.id), steps.total,
                   page.next.text if page.next else None, first_page=first)  # fmt: skip


def step_diff(pairs: Iterable[Pair], keep: int = STEPS_SHOWN) -> StepDiff:
    """One pass over matched results in key order (each validated, compared, dropped)."""
    old_ms, new_ms = _Durations(), _Durations()
    shown: list[StepChange] = []
    total = unchanged = 0
    for pair in pairs:
        was, now = _result(pair.old), _result(pair.new)
        old_ms.add(was)
        new_ms.add(now)
        if was is None or now is None:
            continue
        changes = step_changes(pair.key, was, now)
        total += len(changes)
        shown += changes[: max(0, keep - len(shown))]
        unchanged += was.status == now.status and not changes
    return StepDiff(tuple(shown), total, step_timings(old_ms.means(), new_ms.means()), unchanged)


def _result(stored: dict[str, Any] | None) -> InstanceResult | None:
    return InstanceResult.model_validate(stored) if stored is not None else None


@dataclass
class _Durations:
    """Per step id (in first-seen order): the sum and count of its durations."""

    sums: dict[str, list[float]] = field(default_factory=dict)

    def add(self, result: InstanceResult | None) -> None:
        for step in result.steps if result else ():
            if step.status != "skipped":
                total = self.sums.setdefault(step.id, [0.0, 0.0])
                total[0] += step.duration_ms
                total[1] += 1

    def means(self) -> dict[str, float]:
        return {step: total / count for step, (total, count) in self.sums.items()}


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


def step_timings(old: dict[str, float], new: dict[str, float]) -> tuple[Timing, ...]:
    order = list(new) + [s for s in old if s not in new]
    return tuple(Timing(step, old.get(step), new.get(step)) for step in order)


__all__ = ["RunDiff", "StepDiff", "diff_page", "step_diff"]
