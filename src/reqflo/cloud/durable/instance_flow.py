"""The `reqflo.instance` workflow (DBOS): one run instance, one checkpoint per HTTP step.

Input: an `InstanceRef` (run id and row; id = `{run_id}:{index}`). The artifact and the
run's settings come from the run's spec, cached once per process
(reqflo.cloud.durable.process.specs), so no instance row carries its own sealed copy.
Checkpoints, in order:

* `reqflo.start`: pre-flight (`instance.prepare`), the shape of each step (repeatable?
  continue on failure?) and, when step 0 is not repeatable, its "about to send" marker;
* per plan step: `reqflo.mark` (the marker; only for a step that is NOT repeatable, and
  not for step 0, whose marker is in `start`), then `reqflo.exchange`, whose checkpoint
  is the redacted StepResult plus the step's saved response and the cookie jar;
* `reqflo.report`: the InstanceResult sent to the sink.

A marker replayed from the database without its `exchange` means the step was in flight
when a worker died; `instance.exchange` then records it `indeterminate`. A repeatable
step (GET/HEAD/OPTIONS/PUT/DELETE, `idempotent: true`, an Idempotency-Key header) has
no marker: after a crash it is re-sent whether or not it had been sent, so the marker
would change nothing. Recovery attempts are bounded by `REQFLO_MAX_RECOVERY_ATTEMPTS`
(read at import, default 5).
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
    ref: InstanceRef, snapshot: InstanceSnapshot, step_index: int, interrupted: bool
) -> dict[str, Any]:
    done = instance.exchange(job(ref), snapshot, step_index, rt(), interrupted=interrupted)
    return done.model_dump(mode="json")


@DBOS.step(name="reqflo.report")
def _report(ref: InstanceRef, prepared: Prepared, exchanges: list[Exchange]) -> str:
    this, runtime = job(ref), rt()
    result = instance.finish(this, prepared, exchanges, runtime)
    runtime.sink.instance_finished(ref.run_id, result)
    runtime.emit(ref.run_id, InstanceFinished(result=result))
    return result.status


def _interrupted(started: Started, index: int, shape: StepShape) -> bool:
    """Whether an earlier execution died with this step in flight (never for a repeatable one)."""
    if shape.repeatable:
        return False  # re-sent after a crash either way
    token = started.mark if index == 0 else None
    return not written_here(token or _mark(index))


@DBOS.workflow(name="reqflo.instance", max_recovery_attempts=MAX_RECOVERY_ATTEMPTS)
def instance_workflow(ref_data: dict[str, Any]) -> str:
    ref = InstanceRef.model_validate(ref_data)
    started = Started.model_validate(_start(ref))
    exchanges: list[Exchange] = []
    if started.prepared.failed is None:
        snapshot = InstanceSnapshot(inputs=started.prepared.inputs)
        for index, shape in enumerate(started.steps):
            interrupted = _interrupted(started, index, shape)
            done = Exchange.model_validate(_exchange(ref, snapshot, index, interrupted))
            exchanges.append(done)
            snapshot = instance.advance(snapshot, done)
            if not instance.continues(shape, done.result):
                break
    return _report(ref, started.prepared, exchanges)
