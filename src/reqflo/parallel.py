"""Data runs on several processes: `reqflo run --data rows.csv --workers N`.

Owns the split of one data run over N forked worker processes. Each worker reads the
data file itself and takes every N-th row (keeping the row's global number), runs its
share with the normal engine and sends its instance events to the parent through a
queue; the parent feeds them to the reporters and builds the run's summary. Run-level
events (RunStarted, RunFinished) come from the parent only, so reporters see one run.
Memory stays flat: rows stream in every worker and events are not kept.

The parent is the bottleneck of a parallel run (it receives every event), so a worker
sends only the event kinds the parent's reporters want (`event_kinds`, see
`wanted_kinds`; InstanceFinished always, it carries the counts), and sends the events
of one instance together once the instance has finished. Events of one instance keep
their order; instances arrive in the order they finish.

What crosses the queue is cheap to pickle: each event as its class and its
`model_dump(exclude_unset=True)` (plain dicts and tuples; pickling the nested models
themselves costs a Python `__setstate__` per model), rebuilt by `model_validate` in the
parent into an equal model with the same set fields. Finished instances are sent in
groups: a group is sent once it holds BATCH_INSTANCES, or FLUSH_SECONDS after its
first instance finished (a timer on the worker's event loop, so no instance waits for
another to finish), so the queue is not paid per instance; a worker flushes the rest
when its share is done.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable, Iterator
from typing import Any

from reqflo.runner.engine import InstanceSpec, unwanted_kinds
from reqflo.runner.events import (
    AnyEvent,
    InstanceFinished,
    InstanceStarted,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from reqflo.runner.results import RunSummary, summarize_status

INSTANCE_KINDS = frozenset(
    {"instance_started", "step_started", "step_finished", "instance_finished"}
)
DONE = "done"
BATCH_INSTANCES = 64
FLUSH_SECONDS = 0.1
Share = Callable[[int, int], Iterator[InstanceSpec]]  # (worker, workers) → its rows
Packed = tuple[type[AnyEvent], dict[str, Any]]  # an event as it crosses the queue


def wanted_kinds(reporter: Any) -> frozenset[str]:
    """The instance-level event kinds `reporter` wants; InstanceFinished always (the
    engine's `unwanted_kinds` never drops it)."""
    return INSTANCE_KINDS - unwanted_kinds(reporter)


def pack(event: AnyEvent) -> Packed:
    """An event as plain data (see the module docstring); `unpack` rebuilds it."""
    return type(event), event.model_dump(exclude_unset=True)


def unpack(packed: Packed) -> AnyEvent:
    kind, data = packed
    return kind.model_validate(data)


class _QueueReporter:
    """A worker's reporter: forwards the wanted instance-level events to the parent,
    the events of each finished instance together, several instances per message."""

    def __init__(self, queue: Any, kinds: frozenset[str]) -> None:
        self.queue = queue
        self.kinds = kinds
        self.pending: dict[int, list[Packed]] = {}
        self.ready: list[list[Packed]] = []
        self.timer: asyncio.TimerHandle | None = None  # the flush of `ready`, when due

    def handle(self, event: AnyEvent) -> None:
        if event.kind not in self.kinds:
            return
        if isinstance(event, InstanceFinished):
            batch = self.pending.pop(event.result.index, [])
            batch.append(pack(event))
            self.ready.append(batch)
            if len(self.ready) >= BATCH_INSTANCES:
                self.flush()
            elif self.timer is None:
                self.timer = _flush_later(self.flush)
        else:
            assert isinstance(event, InstanceStarted | StepStarted | StepFinished)
            self.pending.setdefault(event.instance, []).append(pack(event))

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.ready:
            self.queue.put(self.ready)
            self.ready = []

    @property
    def event_kinds(self) -> frozenset[str]:
        return self.kinds  # the worker's engine does not even make the others

    def close(self) -> None:
        self.flush()


def _flush_later(flush: Callable[[], None]) -> asyncio.TimerHandle | None:
    """Call `flush` in FLUSH_SECONDS on the running event loop (the worker's engine);
    outside one, at once."""
    try:
        return asyncio.get_running_loop().call_later(FLUSH_SECONDS, flush)
    except RuntimeError:
        flush()
        return None


def run_parallel(
    workers: int,
    share: Share,
    total: int,
    run: Callable[[Iterator[InstanceSpec], Any], RunSummary],
    reporter: Any,
    started: RunStarted,
) -> RunSummary:
    """Run `share(i, workers)` in worker i via `run(rows, reporter)`; merge into `reporter`."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=10_000)
    clock = time.perf_counter()
    reporter.handle(started)  # before the fork: reporters know the run when asked what they want
    kinds = wanted_kinds(reporter)
    processes = [
        context.Process(target=_work, args=(run, share, i, workers, queue, kinds), daemon=True)
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    counts = _merge(queue, workers, reporter)
    for process in processes:
        process.join()
    summary = _summary(started, total, counts, clock)
    reporter.handle(RunFinished(summary=summary))
    return summary


def _work(
    run: Callable[..., RunSummary],
    share: Share,
    index: int,
    workers: int,
    queue: Any,
    kinds: frozenset[str],
) -> None:
    reporter = _QueueReporter(queue, kinds)
    try:
        run(share(index, workers), reporter)
    finally:
        reporter.flush()
        queue.put(DONE)


def _merge(queue: Any, workers: int, reporter: Any) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "error": 0, "cancelled": 0}
    finished = 0
    while finished < workers:
        message = queue.get()
        if message == DONE:
            finished += 1
            continue
        for batch in message:
            for packed in batch:
                event = unpack(packed)
                if isinstance(event, InstanceFinished):
                    status = event.result.status
                    counts[status if status in counts else "error"] += 1
                reporter.handle(event)
    return counts


def _summary(started: RunStarted, total: int, counts: dict[str, int], clock: float) -> RunSummary:
    passed, failed, errored = counts["passed"], counts["failed"], counts["error"]
    cancelled = counts["cancelled"]
    return RunSummary(
        run_id=started.run_id, artifact_id=started.artifact_id, journey=started.journey,
        environment=started.environment, status=summarize_status(passed, failed, errored),
        total=passed + failed + errored + cancelled, passed=passed, failed=failed,
        errored=errored, cancelled=cancelled,
        started_at=started.started_at, duration_ms=(time.perf_counter() - clock) * 1000,
    )  # fmt: skip
