"""The `reqflo.instance` workflow (DBOS): one run instance, one checkpoint per HTTP step.

Input: an `InstanceRef` (run id and row; id = `{run_id}:{index}`). The artifact and the
run's settings come from the run's spec, cached once per process
(reqflo.cloud.durable.process.specs), so no instance row carries its own sealed copy.
Checkpoints, in order:

* `reqflo.start`: pre-flight (`instance.prepare`), the shape of each step (repeatable?
  continue on failure?) and, when step 0 is not repeatable, its "about to send" marker;
* per plan step `reqflo.exchange`, whose checkpoint is the redacted StepResult, the
  step's saved response, the cookie jar and, when the instance goes on to a step that
  is not repeatable, that next step's marker;
then the InstanceResult (made from the checkpoints) goes to the sink (its
`instance_finished` event first, so a buffering sink stores it with the result before
the workflow ends), and the status is the workflow's output. That report is no
checkpoint of its own: a worker that dies after it and before the workflow's end
reports the same instance again on recovery (the sink upserts; the progress stream may
show its `instance_finished` twice).

So the marker of a step that is not safe to repeat is written in the checkpoint just
before it (`start` or the previous `exchange`), always before the request can leave,
and nothing but the check of the step's own checkpoint and building the request
happens between the two: the same window a separate "about to send" checkpoint had,
for one checkpoint less per step. A marker replayed from the database (not written by
this process) without the step's `exchange` means the step may have been in flight when
a worker died; `instance.exchange` then records it `indeterminate` (a crash in that
window, before the request left, is also recorded so: the policy errs on the side of
never sending twice). A repeatable step (GET/HEAD/OPTIONS/PUT/DELETE, `idempotent:
true`, an Idempotency-Key header) has no marker: after a crash it is re-sent either
way. `reqflo.mark`, a marker on its own, is only a fallback should a marker be missing.
Recovery attempts are bounded by `REQFLO_MAX_RECOVERY_ATTEMPTS` (read at import,
default 5).
"""

from __future__ import annotations

import os
from typing import Any

from dbos import DBOS

from reqflo.cloud.durable import instance
from reqflo.cloud.durable.jobs import (
    Exchange,
    InstanceJob,
    InstanceRef,
    Prepared,
    Started,
    StepShape,
    job_of,
)
from reqflo.cloud.durable.process import new_mark, rt, specs, written_here
from reqflo.cloud.durable.state import InstanceSnapshot
from reqflo.runner.events import InstanceFinished
from reqflo.runner.results import StepResult

MAX_RECOVERY_ATTEMPTS = int(os.environ.get("REQFLO_MAX_RECOVERY_ATTEMPTS", "5"))


def job(ref: InstanceRef) -> InstanceJob:
    return job_of(specs.get(ref.run_id), ref.row)


@DBOS.step(name="reqflo.start")
def _start(ref: InstanceRef) -> dict[str, Any]:
    this = job(ref)
    prepared = instance.prepare(this, rt())
    shapes = instance.shapes_of(this.artifact)
    mark = None
    if prepared.failed is None and shapes and not shapes[0].repeatable:
        mark = new_mark(0)
    return Started(prepared=prepared, steps=shapes, mark=mark).model_dump(mode="json")


@DBOS.step(name="reqflo.mark")
def _mark(step_index: int) -> str:
    """The "about to send" marker; its token is fresh only in the process that wrote it."""
    return new_mark(step_index)


@DBOS.step(name="reqflo.exchange")
def _exchange(
    ref: InstanceRef,
    snapshot: InstanceSnapshot,
    step_index: int,
    interrupted: bool,
    shapes: tuple[StepShape, ...],
) -> dict[str, Any]:
    done = instance.exchange(job(ref), snapshot, step_index, rt(), interrupted=interrupted)
    if _marked_next(shapes, step_index, done.result):
        done = done.model_copy(update={"next_mark": new_mark(step_index + 1)})
    return done.model_dump(mode="json")


def _marked_next(shapes: tuple[StepShape, ...], step_index: int, result: StepResult) -> bool:
    """Whether the instance goes on to a next step that is not repeatable."""
    after = step_index + 1
    if after >= len(shapes) or shapes[after].repeatable:
        return False
    return instance.continues(shapes[step_index], result)


def _report(ref: InstanceRef, prepared: Prepared, exchanges: list[Exchange]) -> str:
    """Not a checkpoint: the workflow's own output records the status. Replayed only if
    a worker died between the report and the workflow's end; the sink is idempotent."""
    this, runtime = job(ref), rt()
    result = instance.finish(this, prepared, exchanges, runtime)
    # the event first: a buffering sink stores it with the result, before this workflow
    # ends, so a run finished by another process never ends before its events are stored
    runtime.emit(ref.run_id, InstanceFinished(result=result))
    runtime.sink.instance_finished(ref.run_id, result)
    return result.status


def _interrupted(mark: str | None, index: int, shape: StepShape) -> bool:
    """Whether an earlier execution died with this step in flight (never for a repeatable
    one). `mark`: the marker the previous checkpoint carried for this step."""
    if shape.repeatable:
        return False  # re-sent after a crash either way
    return not written_here(mark or _mark(index))


@DBOS.workflow(name="reqflo.instance", max_recovery_attempts=MAX_RECOVERY_ATTEMPTS)
def instance_workflow(ref_data: dict[str, Any]) -> str:
    ref = InstanceRef.model_validate(ref_data)
    started = Started.model_validate(_start(ref))
    exchanges: list[Exchange] = []
    if started.prepared.failed is None:
        snapshot = InstanceSnapshot(inputs=started.prepared.inputs)
        mark = started.mark
        for index, shape in enumerate(started.steps):
            interrupted = _interrupted(mark, index, shape)
            done = Exchange.model_validate(
                _exchange(ref, snapshot, index, interrupted, started.steps)
            )
            mark = done.next_mark
            exchanges.append(done)
            snapshot = instance.advance(snapshot, done)
            if not instance.continues(shape, done.result):
                break
    return _report(ref, started.prepared, exchanges)
