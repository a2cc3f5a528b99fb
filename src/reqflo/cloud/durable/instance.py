"""One run instance as a sequence of checkpointable pieces, with the crash policy.

Owns the engine-agnostic logic a durable workflow strings together:

    prepared = prepare(job, rt)                       # pre-flight checks, no request
    shapes = shapes_of(job.artifact)                  # what sequencing needs of each step
    for i in steps: exchange(job, snapshot, i, rt, interrupted=...) → Exchange
    result = finish(job, prepared, exchanges)         # the InstanceResult

`exchange` runs ONE step (with its retries) from a serialisable `InstanceSnapshot` via
the runner's public `run_step`. When the workflow engine says the step was *interrupted*
(its "about to send" marker was checkpointed by an earlier execution that never
recorded a result), the step is re-sent only if it is safe to repeat (`StepPlan.
safe_to_repeat`: GET/HEAD/OPTIONS/PUT/DELETE or `idempotent: true`) or its request
carries an `Idempotency-Key` header (such a step needs no marker at all: it is re-sent
either way); otherwise it is recorded `indeterminate` (error code
`indeterminate`) and the instance stops there, ending `indeterminate`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from reqflo.artifact import Artifact, StepPlan
from reqflo.cloud.durable.jobs import Exchange, InstanceJob, Prepared, StepShape
from reqflo.cloud.durable.runtime import WorkerRuntime
from reqflo.cloud.durable.state import (
    InstanceSnapshot,
    SavedStep,
    dump_cookies,
    restore,
    save_step,
)
from reqflo.diagnostics import RunSetupError
from reqflo.runner.engine import instance_status, run_identity
from reqflo.runner.events import InstanceStarted, StepFinished, StepStarted
from reqflo.runner.evidence import step_error
from reqflo.runner.preflight import check_setup, resolve_secrets
from reqflo.runner.results import InstanceResult, StepError, StepResult
from reqflo.runner.step import StepDeps, run_step

IDEMPOTENCY_HEADER = "idempotency-key"
STOPPING = frozenset({"failed", "error"})


def repeatable(step: StepPlan) -> bool:
    """Safe to send again after a crash left it in flight."""
    has_key = any(name.lower() == IDEMPOTENCY_HEADER for name in step.request.headers)
    return step.safe_to_repeat or has_key


def shapes_of(artifact: Artifact) -> tuple[StepShape, ...]:
    return tuple(
        StepShape(repeatable=repeatable(s), continue_on_failure=s.continue_on_failure)
        for s in artifact.plan.steps
    )


def prepare(job: InstanceJob, rt: WorkerRuntime) -> Prepared:
    started_at = time.time()
    rt.emit(job.run_id, InstanceStarted(instance=job.row.index, key=job.row.key))
    plan = job.artifact.plan
    secrets, missing = resolve_secrets(plan.needs.secrets, rt.secrets(job.environment, job.run_id))
    _, redactors = rt.run_caches(job.run_id)
    redactor = redactors.for_secrets(secrets.values())
    try:
        inputs = check_setup(
            plan,
            job.row.values,
            missing,
            environment=job.environment,
            env=job.env,
            me=job.me,
            where=f"row {job.row.index + 1}",
        )
    except RunSetupError as exc:
        failed = InstanceResult(
            index=job.row.index,
            key=job.row.key,
            status="error",
            error=step_error(exc.code, str(exc), redactor),
            inputs=redactor.redact_value(dict(job.row.values)),
            started_at=started_at,
        )
        return Prepared(started_at=started_at, failed=failed)
    return Prepared(started_at=started_at, inputs=inputs)


def exchange(
    job: InstanceJob,
    snapshot: InstanceSnapshot,
    step_index: int,
    rt: WorkerRuntime,
    *,
    interrupted: bool,
) -> Exchange:
    step = job.artifact.plan.steps[step_index]
    rt.emit(job.run_id, StepStarted(instance=job.row.index, step=step_index, step_id=step.id))
    if interrupted and not repeatable(step):
        result = indeterminate_result(step, step_index)
        done = Exchange(
            result=result, step=SavedStep(id=step.id), cookies=snapshot.cookies, logs=snapshot.logs
        )
    else:
        done = _run_one(job, snapshot, step_index, rt)
    rt.emit(job.run_id, StepFinished(instance=job.row.index, result=done.result))
    return done


def _run_one(
    job: InstanceJob, snapshot: InstanceSnapshot, step_index: int, rt: WorkerRuntime
) -> Exchange:
    return rt.run(_run_one_async(job, snapshot, step_index, rt))


async def _run_one_async(
    job: InstanceJob, snapshot: InstanceSnapshot, step_index: int, rt: WorkerRuntime
) -> Exchange:
    """On the runtime's loop (aiohttp cookie jars need a running loop)."""
    plan = job.artifact.plan
    secrets, _ = resolve_secrets(plan.needs.secrets, rt.secrets(job.environment, job.run_id))
    tokens, redactors = rt.run_caches(job.run_id)
    redactor = redactors.for_secrets(secrets.values())
    cookies = rt.transport.new_cookie_store()
    run = run_identity(job.run_id, job.row.index, job.row.key)
    state = restore(snapshot, plan, job.env, secrets, redactor, cookies, job.me, run)
    limits = job.limits
    deps = StepDeps(
        job.artifact, rt.transport, rt.base_dir, tokens,
        step_timeout_s=limits.step_timeout_seconds, transport_retries=limits.transport_retries,
        transport_retry_backoff_s=limits.transport_retry_backoff_seconds,
    )  # fmt: skip
    try:
        result = await run_step(step_index, deps, state)
    except Exception as exc:  # a bug must not leave the instance pending
        step = plan.steps[step_index]
        error = step_error("internal-error", f"{type(exc).__name__}: {exc}", state.redactor)
        result = StepResult(
            index=step_index, id=step.id, name=step.name, status="error", error=error
        )
    return Exchange(
        result=result,
        step=save_step(plan.steps[step_index].id, state.scope),
        cookies=dump_cookies(state.cookies),
        logs=tuple(state.logs),
    )


def indeterminate_result(step: StepPlan, step_index: int) -> StepResult:
    method = step.request.method.upper()
    message = (
        f"the worker stopped while this {method} request was in flight: it may or may not "
        "have reached the server, and it was not sent again because it is not safe to "
        "repeat (mark the step `idempotent: true` or send an Idempotency-Key header)"
    )
    return StepResult(
        index=step_index,
        id=step.id,
        name=step.name,
        status="indeterminate",
        error=StepError(code="indeterminate", message=message),
    )


def continues(step: StepShape, result: StepResult) -> bool:
    """Whether the instance goes on after this step."""
    if result.status == "indeterminate":
        return False
    return result.status not in STOPPING or step.continue_on_failure


def advance(snapshot: InstanceSnapshot, done: Exchange) -> InstanceSnapshot:
    steps = (*[s for s in snapshot.steps if s.id != done.step.id], done.step)
    return snapshot.model_copy(update={"steps": steps, "cookies": done.cookies, "logs": done.logs})


def finish(
    job: InstanceJob, prepared: Prepared, exchanges: Sequence[Exchange], rt: WorkerRuntime
) -> InstanceResult:
    if prepared.failed is not None:
        return prepared.failed
    source = rt.secrets(job.environment, job.run_id)
    secrets, _ = resolve_secrets(job.artifact.plan.needs.secrets, source)
    redactor = rt.run_caches(job.run_id)[1].for_secrets(secrets.values())
    steps = tuple(e.result for e in exchanges)
    logs = exchanges[-1].logs if exchanges else ()
    return InstanceResult(
        index=job.row.index,
        key=job.row.key,
        status=instance_status(s.status for s in steps),
        steps=steps,
        inputs=redactor.redact_value(dict(prepared.inputs)),
        started_at=prepared.started_at,
        duration_ms=round((time.time() - prepared.started_at) * 1000, 3),
        logs=logs,
    )


def abandoned_result(job: InstanceJob, message: str) -> InstanceResult:
    """An instance the engine gave up on (it crashed its worker too many times)."""
    return InstanceResult(
        index=job.row.index,
        key=job.row.key,
        status="error",
        error=StepError(code="internal-error", message=message),
        inputs=dict(job.row.values),
    )
