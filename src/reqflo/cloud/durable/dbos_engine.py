"""`DurableEngine` on DBOS Transact (pinned: dbos==3.4.0): workflows, steps, queues.

Owns the two workflows and their checkpointed steps, the sealing DBOS serializer and
`DbosEngine`:

* `reqflo.run` (id = run_id, on queue `reqflo-runs`): reports the start, then keeps at
  most `RunSpec.concurrency` instance workflows enqueued on `reqflo-instances` (ids
  `{run_id}:{index}`, so a recovered or resubmitted run never duplicates one), waits for
  each, and reports the summary. An instance that exhausted its recovery attempts (it
  kept killing its worker) is reported as `error`.
* `reqflo.instance` (id = `{run_id}:{index}`): `prepare` (pre-flight), then per plan
  step a `mark` step ("about to send", checkpointed) and an `exchange` step whose
  checkpoint is the redacted StepResult plus the step's saved response and the cookie
  jar; finally `report` sends the InstanceResult to the sink. A `mark` replayed from the
  database without its `exchange` means the step was in flight when a worker died:
  `reqflo.cloud.durable.instance.exchange` applies the re-send policy.

Every value DBOS stores goes through `SealingSerializer`: JSON (never pickle), then
AES-256-GCM with the worker's master key. Secrets are resolved inside `exchange` and
never returned from a step. `application_version` is `APPLICATION_VERSION`, so workers
of one Reqflo release recover each other's workflows. Recovery attempts are bounded by
`REQFLO_MAX_RECOVERY_ATTEMPTS` (read at import, default 5) per instance workflow.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from typing import Any

from dbos import (
    DBOS,
    DBOSClient,
    DBOSConfig,
    EnqueueOptions,
    Serializer,
    SetWorkflowID,
    WorkflowHandle,
)
from dbos._error import (
    DBOSAwaitedWorkflowCancelledError,
    DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded,
)

from reqflo.cloud.durable import instance
from reqflo.cloud.durable.cancel import CancelledRun
from reqflo.cloud.durable.engine import (
    APPLICATION_VERSION,
    INSTANCE_QUEUE,
    RUN_QUEUE,
    EngineConfig,
)
from reqflo.cloud.durable.jobs import Exchange, InstanceJob, Prepared, RunSpec, jobs_of
from reqflo.cloud.durable.keys import Sealer
from reqflo.cloud.durable.runtime import WorkerRuntime
from reqflo.cloud.durable.state import InstanceSnapshot
from reqflo.runner.events import InstanceFinished, RunFinished, RunStarted
from reqflo.runner.results import RunSummary, summarize_status

MAX_RECOVERY_ATTEMPTS = int(os.environ.get("REQFLO_MAX_RECOVERY_ATTEMPTS", "5"))
RUN_MAX_RECOVERY_ATTEMPTS = 20 * MAX_RECOVERY_ATTEMPTS  # a run dies with its instances
_EXCEPTION_KEY = "__reqflo_exception__"
APP_NAME = "reqflo"
WAIT_POLL_S = 0.05  # how often a run checks for a finished instance (DBOS default: 1 s)


class DurableStepError(Exception):
    """An exception restored from a checkpoint (type name and message only)."""


class SealingSerializer(Serializer):
    """DBOS serializer: JSON, then sealed (AES-256-GCM). Exceptions keep type and text."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    def serialize(self, data: Any) -> str:
        if isinstance(data, BaseException):
            data = {_EXCEPTION_KEY: [type(data).__name__, str(data)]}
        return self._sealer.seal(data)

    def deserialize(self, serialized_data: str) -> Any:
        value = self._sealer.open(serialized_data)
        if isinstance(value, dict) and _EXCEPTION_KEY in value:
            name, message = value[_EXCEPTION_KEY]
            return DurableStepError(f"{name}: {message}")
        return value

    def name(self) -> str:
        return "reqflo_sealed_json_v1"


# ---------------------------------------------------------------- process state

_runtime: WorkerRuntime | None = None
_fresh_marks: set[str] = set()
_marks_lock = threading.Lock()


def _rt() -> WorkerRuntime:
    if _runtime is None:
        raise RuntimeError("the durable engine is not started in this process")
    return _runtime


# ---------------------------------------------------------------- instance workflow


@DBOS.step(name="reqflo.prepare")
def _prepare(job: InstanceJob) -> dict[str, Any]:
    return instance.prepare(job, _rt()).model_dump(mode="json")


@DBOS.step(name="reqflo.mark")
def _mark(step_index: int) -> str:
    """The "about to send" marker; its token is fresh only in the process that wrote it."""
    token = f"{step_index}:{uuid.uuid4().hex}"
    with _marks_lock:
        _fresh_marks.add(token)
    return token


def _written_here(token: str) -> bool:
    with _marks_lock:
        if token in _fresh_marks:
            _fresh_marks.discard(token)
            return True
        return False


@DBOS.step(name="reqflo.exchange")
def _exchange(
    job: InstanceJob, snapshot: InstanceSnapshot, step_index: int, interrupted: bool
) -> dict[str, Any]:
    done = instance.exchange(job, snapshot, step_index, _rt(), interrupted=interrupted)
    return done.model_dump(mode="json")


@DBOS.step(name="reqflo.report")
def _report(job: InstanceJob, prepared: Prepared, exchanges: list[Exchange]) -> str:
    rt = _rt()
    result = instance.finish(job, prepared, exchanges, rt)
    rt.sink.instance_finished(job.run_id, result)
    rt.emit(job.run_id, InstanceFinished(result=result))
    return result.status


@DBOS.workflow(name="reqflo.instance", max_recovery_attempts=MAX_RECOVERY_ATTEMPTS)
def instance_workflow(job_data: dict[str, Any]) -> str:
    job = InstanceJob.model_validate(job_data)
    prepared = Prepared.model_validate(_prepare(job))
    exchanges: list[Exchange] = []
    if prepared.failed is None:
        snapshot = InstanceSnapshot(inputs=prepared.inputs)
        for index, step in enumerate(job.artifact.plan.steps):
            interrupted = not _written_here(_mark(index))
            done = Exchange.model_validate(_exchange(job, snapshot, index, interrupted))
            exchanges.append(done)
            snapshot = instance.advance(snapshot, done)
            if not instance.continues(step, done.result):
                break
    return _report(job, prepared, exchanges)


# ---------------------------------------------------------------- run workflow


@DBOS.step(name="reqflo.run-started")
def _run_started(spec: RunSpec) -> float:
    rt, started_at = _rt(), time.time()
    rt.sink.run_started(spec.run_id)
    plan = spec.artifact.plan
    rt.emit(
        spec.run_id,
        RunStarted(
            run_id=spec.run_id,
            artifact_id=spec.artifact.id,
            journey=plan.journey.name,
            environment=spec.environment,
            total=len(spec.rows),
            started_at=started_at,
        ),
    )
    return started_at


@DBOS.step(name="reqflo.abandoned")
def _abandoned(job: InstanceJob, message: str) -> str:
    rt = _rt()
    result = instance.abandoned_result(job, message)
    rt.sink.instance_finished(job.run_id, result)
    rt.emit(job.run_id, InstanceFinished(result=result))
    return result.status


@DBOS.step(name="reqflo.run-finished")
def _run_finished(spec: RunSpec, started_at: float, tally: dict[str, int]) -> dict[str, Any]:
    rt = _rt()
    passed, failed = tally.get("passed", 0), tally.get("failed", 0)
    indeterminate = tally.get("indeterminate", 0)
    total = sum(tally.values())
    errored = total - passed - failed - indeterminate
    status = summarize_status(passed, failed, errored, indeterminate)
    summary = RunSummary(
        run_id=spec.run_id,
        artifact_id=spec.artifact.id,
        journey=spec.artifact.plan.journey.name,
        environment=spec.environment,
        status=status,
        total=total,
        passed=passed,
        failed=failed,
        errored=total - passed - failed,
        started_at=started_at,
        duration_ms=round((time.time() - started_at) * 1000, 3),
    )
    rt.sink.run_finished(spec.run_id, summary)
    rt.emit(spec.run_id, RunFinished(summary=summary))
    return summary.model_dump(mode="json")


def _instance_status(handle: WorkflowHandle[str], job: InstanceJob) -> str:
    try:
        return handle.get_result()
    except DBOSAwaitedWorkflowCancelledError:
        return "cancelled"
    except DBOSAwaitedWorkflowMaxRecoveryAttemptsExceeded:
        message = (
            f"the instance stopped its worker {MAX_RECOVERY_ATTEMPTS + 1} times; "
            "it was given up (poison instance)"
        )
    except Exception as exc:
        message = f"the instance workflow failed: {exc}"
    return _abandoned(job, message)


@DBOS.workflow(name="reqflo.run", max_recovery_attempts=RUN_MAX_RECOVERY_ATTEMPTS)
def run_workflow(spec_data: dict[str, Any]) -> dict[str, Any]:
    spec = RunSpec.model_validate(spec_data)
    started_at = _run_started(spec)
    jobs = jobs_of(spec)
    pending: dict[str, tuple[WorkflowHandle[str], InstanceJob]] = {}
    tally: Counter[str] = Counter()
    next_job = 0
    while next_job < len(jobs) or pending:
        while next_job < len(jobs) and len(pending) < spec.concurrency:
            job = jobs[next_job]
            with SetWorkflowID(job.workflow_id):
                handle = DBOS.enqueue_workflow(
                    INSTANCE_QUEUE, instance_workflow, job.model_dump(mode="json")
                )
            pending[job.workflow_id] = (handle, job)
            next_job += 1
        first = DBOS.wait_first([h for h, _ in pending.values()], polling_interval_sec=WAIT_POLL_S)
        handle, job = pending.pop(first.workflow_id)
        tally[_instance_status(handle, job)] += 1
    return _run_finished(spec, started_at, dict(tally))


# ---------------------------------------------------------------- the engine


_UNFINISHED = frozenset({"PENDING", "ENQUEUED", "DELAYED"})


def _run_state(list_workflows: Any, run_id: str) -> CancelledRun | None:
    """The run workflow's spec and creation time and its instance workflows' outcomes."""
    found = list_workflows(workflow_ids=[run_id], load_output=False)
    if not found or found[0].input is None:
        return None
    run = found[0]
    spec = RunSpec.model_validate(run.input["args"][0])
    children = list_workflows(workflow_id_prefix=f"{run_id}:", load_input=False)
    return CancelledRun(
        spec=spec,
        created_at=(run.created_at or time.time() * 1000) / 1000,
        finished=run.status == "SUCCESS",
        children={c.workflow_id: (c.status, c.output) for c in children},
    )


def sys_db_pool_size(worker_concurrency: int) -> int:
    """DBOS connections per process (DBOS default: 20). A step holds one only while it
    writes its checkpoint, so half the instance threads share them; a server and two
    workers then stay well under PostgreSQL's default of 100 connections (the benchmark
    ran out of them with 20 each, next to the store's own pools)."""
    return max(4, min(20, worker_concurrency // 2))


class DbosEngine:
    """One per process (DBOS is a process-wide singleton)."""

    def __init__(self, config: EngineConfig, runtime: WorkerRuntime, sealer: Sealer) -> None:
        self.config = config
        self._runtime = runtime
        self._sealer = sealer
        self._started = False

    def start(self) -> None:
        global _runtime
        _runtime = self._runtime
        dbos_config: DBOSConfig = {
            "name": APP_NAME,
            "system_database_url": self.config.database_url,
            "application_version": APPLICATION_VERSION,
            "executor_id": self.config.executor_id,
            "serializer": SealingSerializer(self._sealer),
            "log_level": os.environ.get("REQFLO_DBOS_LOG_LEVEL", "WARNING"),
            "notification_listener_polling_interval_sec": self.config.poll_interval_s,
            "sys_db_pool_size": sys_db_pool_size(self.config.worker_concurrency),
        }
        DBOS(config=dbos_config)
        DBOS.launch()
        self._started = True
        poll = self.config.poll_interval_s
        DBOS.register_queue(
            RUN_QUEUE, worker_concurrency=self.config.run_concurrency, polling_interval_sec=poll
        )
        DBOS.register_queue(
            INSTANCE_QUEUE,
            worker_concurrency=self.config.worker_concurrency,
            global_concurrency=self.config.global_concurrency,
            polling_interval_sec=poll,
        )

    def submit(self, spec: RunSpec) -> None:
        with SetWorkflowID(spec.run_id):
            DBOS.enqueue_workflow(RUN_QUEUE, run_workflow, spec.model_dump(mode="json"))

    def cancel(self, run_id: str) -> CancelledRun | None:
        before = _run_state(DBOS.list_workflows, run_id)
        if before is None or before.finished:
            return before
        DBOS.cancel_workflow(run_id)
        children = DBOS.list_workflows(
            workflow_id_prefix=f"{run_id}:", load_input=False, load_output=False
        )
        unfinished = [c.workflow_id for c in children if c.status in _UNFINISHED]
        if unfinished:
            DBOS.cancel_workflows(unfinished)
        return _run_state(DBOS.list_workflows, run_id)

    def recover(self, executor_ids: list[str]) -> int:
        return len(DBOS._recover_pending_workflows(executor_ids))

    def close(self) -> None:
        global _runtime
        if self._started:
            DBOS.destroy(workflow_completion_timeout_sec=0)
            self._started = False
        self._runtime.close()
        _runtime = None


class DbosSubmitter:
    """Submit and cancel runs without being a worker (DBOSClient; no queue processing).

    For an API process that leaves execution to separate `reqflo worker` processes;
    `start`/`recover` do nothing.
    """

    def __init__(self, config: EngineConfig, sealer: Sealer) -> None:
        self._client = DBOSClient(
            system_database_url=config.database_url,
            serializer=SealingSerializer(sealer),
            application_name=APP_NAME,
        )

    def start(self) -> None:
        return None

    def submit(self, spec: RunSpec) -> None:
        options: EnqueueOptions = {
            "workflow_name": "reqflo.run",
            "queue_name": RUN_QUEUE,
            "workflow_id": spec.run_id,
            "app_version": APPLICATION_VERSION,
            "application_name": APP_NAME,
        }
        self._client.enqueue(options, spec.model_dump(mode="json"))

    def cancel(self, run_id: str) -> CancelledRun | None:
        before = _run_state(self._client.list_workflows, run_id)
        if before is None or before.finished:
            return before
        self._client.cancel_workflow(run_id, cancel_children=True)
        return _run_state(self._client.list_workflows, run_id)

    def recover(self, executor_ids: list[str]) -> int:
        return 0

    def close(self) -> None:
        self._client.destroy()
