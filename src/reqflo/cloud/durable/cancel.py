"""What a durable cancel leaves in the result sink: every unfinished instance, a summary.

Owns `CancelledRun` (what the engine knew when it cancelled a run: the run's spec, when
it was created, each started instance workflow's status and output) and
`report_cancelled(run, sink)`. Cancelling stops the workflows, so neither the instance
workflows nor the run workflow report any more; this reports for them: an instance that
finished keeps its own result (it was reported already), one the engine gave up on is
`error`, every other one (running, queued or never enqueued) is `cancelled`, then a run
summary with status `cancelled`. Calling it again reports the same, so it is idempotent.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from reqflo.cloud.durable.instance import abandoned_result
from reqflo.cloud.durable.jobs import InstanceJob, RunSpec, jobs_of
from reqflo.cloud.executor import ResultSink
from reqflo.runner.results import InstanceResult, RunSummary

GIVEN_UP = frozenset({"ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"})


@dataclass(frozen=True)
class CancelledRun:
    spec: RunSpec
    created_at: float  # seconds since the epoch
    finished: bool  # the run workflow had completed before the cancel: nothing to report
    children: dict[str, tuple[str, object]] = field(default_factory=dict)  # id → status, output


def cancelled_result(job: InstanceJob) -> InstanceResult:
    return InstanceResult(
        index=job.row.index, key=job.row.key, status="cancelled", inputs=dict(job.row.values)
    )


def _instance_status(run: CancelledRun, job: InstanceJob, sink: ResultSink) -> str:
    status, output = run.children.get(job.workflow_id, ("", None))
    if status == "SUCCESS" and isinstance(output, str):
        return output  # the instance reported its own result
    if status in GIVEN_UP:
        result = abandoned_result(job, "the instance workflow failed before the run was cancelled")
    else:
        result = cancelled_result(job)
    sink.instance_finished(run.spec.run_id, result)
    return result.status


def report_cancelled(run: CancelledRun, sink: ResultSink) -> RunSummary | None:
    """Report every unfinished instance and the run summary; None if the run had ended."""
    if run.finished:
        return None
    spec = run.spec
    tally = Counter(_instance_status(run, job, sink) for job in jobs_of(spec))
    passed, failed = tally["passed"], tally["failed"]
    summary = RunSummary(
        run_id=spec.run_id,
        artifact_id=spec.artifact.id,
        journey=spec.artifact.plan.journey.name,
        environment=spec.environment,
        status="cancelled",
        total=len(spec.rows),
        passed=passed,
        failed=failed,
        errored=len(spec.rows) - passed - failed,
        started_at=run.created_at,
        duration_ms=round(max(0.0, time.time() - run.created_at) * 1000, 3),
    )
    sink.run_finished(spec.run_id, summary)
    return summary
