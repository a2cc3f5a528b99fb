"""`DurableEngine` on DBOS Transact (pinned: dbos==3.4.0): workflows, steps, queues.

Owns the run workflow, its checkpointed steps, the sealing DBOS serializer and
`DbosEngine`:

* `reqflo.run` (id = run_id, on queue `reqflo-runs`; input: the `RunSpec`, the one
  copy of the artifact a run stores): reports the start, then keeps at most
  `RunSpec.concurrency` instance workflows enqueued on `reqflo-instances` (ids
  `{run_id}:{index}`, so a recovered or resubmitted run never duplicates one; input: an
  `InstanceRef`, the run id and row only), waits for them with `reqflo.await` (one
  checkpoint for every instance that ended since the last poll, each `WAIT_POLL_S`),
  and reports the summary. An instance that exhausted its recovery attempts (it kept
  killing its worker) or failed is reported as `error`.
* `reqflo.instance`: see reqflo.cloud.durable.instance_flow (`start`, then one
  `exchange` per plan step; the "about to send" marker of a step that is not safe to
  repeat rides in the checkpoint before it; the result goes to the sink).

Every value DBOS stores goes through `SealingSerializer`: JSON (never pickle), then
AES-256-GCM with the worker's master key. Secrets are resolved inside `exchange` and
never returned from a step. `application_version` is `APPLICATION_VERSION`, so workers
of one Reqflo release recover each other's workflows. Recovery attempts are bounded by
`REQFLO_MAX_RECOVERY_ATTEMPTS` (read at import, default 5) per instance workflow.
Instance queues are polled every `EngineConfig.instance_poll_s` (0.1 s).

Cost per instance (bench journey: POST, GET, POST; measured on SQLite): 4 DBOS
checkpoints (`start` + 3 `exchange`) instead of 8 (`prepare`, 3 `mark`, 3 `exchange`,
`report`); no per-instance copy of the artifact to seal, store and parse; about one
`await` checkpoint per batch of finished instances instead of a wait and a result read
(each a checkpoint) per instance; progress events written in batches (StoreSink).
What is left is mostly DBOS itself: each checkpoint is a status read and an
owner-checked insert (~2 ms of CPU with SQLAlchemy), each instance an enqueue, a
dequeue and a status update; a one-process SQLite service is bound by one core (GIL).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

from dbos import (
    DBOS,
    DBOSClient,
    DBOSConfig,
    EnqueueOptions,
    Serializer,
    SetWorkflowID,
)

from reqflo.cloud.durable import instance, process
from reqflo.cloud.durable.cancel import CancelledRun
from reqflo.cloud.durable.engine import (
    APPLICATION_VERSION,
    INSTANCE_QUEUE,
    RUN_QUEUE,
    EngineConfig,
)
from reqflo.cloud.durable.instance_flow import MAX_RECOVERY_ATTEMPTS, instance_workflow
from reqflo.cloud.durable.jobs import InstanceJob, InstanceRef, JobRow, RunSpec, job_of
from reqflo.cloud.durable.keys import Sealer
from reqflo.cloud.durable.process import rt as _rt
from reqflo.cloud.durable.process import specs
from reqflo.cloud.durable.runtime import WorkerRuntime
from reqflo.runner.events import InstanceFinished, RunFinished, RunStarted
from reqflo.runner.results import RunSummary, summarize_status

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


# ---------------------------------------------------------------- run workflow


@DBOS.step(name="reqflo.run-started")
def _run_started(spec: RunSpec) -> float:
    rt, started_at = _rt(), time.time()
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
    rt.sink.run_started(spec.run_id)  # flushes RunStarted: stored before instance events
    return started_at


@DBOS.step(name="reqflo.abandoned")
def _abandoned(job: InstanceJob, message: str) -> str:
    rt = _rt()
    result = instance.abandoned_result(job, message)
    rt.emit(job.run_id, InstanceFinished(result=result))  # stored with the result
    rt.sink.instance_finished(job.run_id, result)
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
    rt.emit(spec.run_id, RunFinished(summary=summary))  # first: a stream that sees the
    rt.sink.run_finished(spec.run_id, summary)  # run ended has every event (as in-process)
    return summary.model_dump(mode="json")


_ENDED = ("SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")


@DBOS.step(name="reqflo.await")
def _await_finished(run_id: str, workflow_ids: list[str]) -> dict[str, list[str]]:
    """Block until one or more of the instance workflows ended: {id: [status, detail]}
    for every one that has (detail: the SUCCESS output or the error text). One
    checkpoint for every instance that finished since the last poll. Also returns (with
    what ended, maybe nothing) when the run workflow itself ended (cancelled): its next
    step then stops it."""
    while True:
        found = DBOS.list_workflows(
            workflow_ids=[run_id, *workflow_ids], status=list(_ENDED), load_input=False
        )
        ended = {w.workflow_id: _outcome(w.status, w.output, w.error) for w in found}
        if ended:
            ended.pop(run_id, None)
            return ended
        time.sleep(WAIT_POLL_S)


def _outcome(status: str, output: Any, error: Exception | None) -> list[str]:
    if status == "SUCCESS":
        return [status, str(output)]
    return [status, "" if error is None else str(error)]


def _instance_status(outcome: list[str], job: InstanceJob) -> str:
    status, detail = outcome
    if status == "SUCCESS":
        return detail
    if status == "CANCELLED":
        return "cancelled"
    if status == "MAX_RECOVERY_ATTEMPTS_EXCEEDED":
        message = (
            f"the instance stopped its worker {MAX_RECOVERY_ATTEMPTS + 1} times; "
            "it was given up (poison instance)"
        )
    else:
        message = f"the instance workflow failed: {detail}"
    return _abandoned(job, message)


@DBOS.workflow(name="reqflo.run", max_recovery_attempts=RUN_MAX_RECOVERY_ATTEMPTS)
def run_workflow(spec_data: dict[str, Any]) -> dict[str, Any]:
    spec = RunSpec.model_validate(spec_data)
    specs.remember(spec)  # this process's instance workflows need not read it back
    started_at = _run_started(spec)
    pending: dict[str, JobRow] = {}
    tally: Counter[str] = Counter()
    rows = iter(spec.rows)
    row = next(rows, None)
    while row is not None or pending:
        while row is not None and len(pending) < spec.concurrency:
            ref = InstanceRef(run_id=spec.run_id, row=row)
            data = ref.model_dump(mode="json")
            with SetWorkflowID(ref.workflow_id):
                DBOS.enqueue_workflow(INSTANCE_QUEUE, instance_workflow, data)
            pending[ref.workflow_id] = row
            row = next(rows, None)
        for workflow_id, outcome in _await_finished(spec.run_id, list(pending)).items():
            tally[_instance_status(outcome, job_of(spec, pending.pop(workflow_id)))] += 1
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
        process.install(self._runtime)
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
            polling_interval_sec=min(poll, self.config.instance_poll_s),
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
        if self._started:
            DBOS.destroy(workflow_completion_timeout_sec=0)
            self._started = False
        self._runtime.close()
        process.install(None)


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
