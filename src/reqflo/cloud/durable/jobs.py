"""What the durable workflows take and return, as JSON-ready models.

Owns `RunSpec` (a queued run: artifact, environment and its values, per-run concurrency,
the runner-settings limits in `StepLimits`, the instances; the run workflow's input),
`InstanceRef` (an instance workflow's input: the run id and its row only; the artifact
and the run's settings come from the run's spec, see reqflo.cloud.durable.specs),
`InstanceJob` (one instance of a run, in memory), `Prepared` (the outcome of the
pre-flight checks), `Started` (the first checkpoint of an instance: `Prepared`, the
shape of each step and the first step's "about to send" marker), `Exchange` (the outcome
of one checkpointed step, with the next step's marker) and the stable child workflow id
`instance_workflow_id(run_id, index)` == `"{run_id}:{index}"`.
None of them ever holds a secret value.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from reqflo.artifact import Artifact
from reqflo.cloud.durable.state import SavedCookie, SavedStep
from reqflo.cloud.executor import QueuedRun
from reqflo.runner.results import InstanceResult, StepResult


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class StepLimits(_Model):
    """Runner settings every step of a run obeys (reqflo.runner.step "Run-wide limits")."""

    step_timeout_seconds: float | None = None
    transport_retries: int = 0
    transport_retry_backoff_seconds: float = 0.0

    @classmethod
    def of(cls, run: QueuedRun) -> StepLimits:
        return cls(
            step_timeout_seconds=run.step_timeout_seconds,
            transport_retries=run.transport_retries,
            transport_retry_backoff_seconds=run.transport_retry_backoff_seconds,
        )


class JobRow(_Model):
    index: int
    key: str
    values: dict[str, Any]


class RunSpec(_Model):
    run_id: str
    artifact: Artifact
    environment: str | None = None
    env: dict[str, Any]
    concurrency: int = 10
    me: dict[str, Any] = {}
    limits: StepLimits = StepLimits()
    rows: tuple[JobRow, ...]

    @classmethod
    def of(cls, run: QueuedRun) -> RunSpec:
        return cls(
            run_id=run.run_id,
            artifact=run.artifact,
            environment=run.environment,
            env=dict(run.env),
            concurrency=max(1, run.concurrency),
            me=dict(run.me),
            limits=StepLimits.of(run),
            rows=tuple(
                JobRow(index=i.index, key=i.key, values=dict(i.values)) for i in run.instances
            ),
        )


class InstanceJob(_Model):
    run_id: str
    artifact: Artifact
    environment: str | None = None
    env: dict[str, Any]
    me: dict[str, Any] = {}
    limits: StepLimits = StepLimits()
    row: JobRow

    @property
    def workflow_id(self) -> str:
        return instance_workflow_id(self.run_id, self.row.index)


def job_of(spec: RunSpec, row: JobRow) -> InstanceJob:
    return InstanceJob(
        run_id=spec.run_id,
        artifact=spec.artifact,
        environment=spec.environment,
        env=spec.env,
        me=spec.me,
        limits=spec.limits,
        row=row,
    )


def jobs_of(spec: RunSpec) -> list[InstanceJob]:
    return [job_of(spec, row) for row in spec.rows]


class InstanceRef(_Model):
    """An instance workflow's input: what varies per instance (the artifact does not)."""

    run_id: str
    row: JobRow

    @property
    def workflow_id(self) -> str:
        return instance_workflow_id(self.run_id, self.row.index)


def instance_workflow_id(run_id: str, index: int) -> str:
    return f"{run_id}:{index}"


class Prepared(_Model):
    """Pre-flight outcome: typed inputs, or the errored result (no request was sent)."""

    started_at: float
    inputs: dict[str, Any] = {}
    failed: InstanceResult | None = None


class StepShape(_Model):
    """What the instance workflow needs to know of a plan step to sequence it."""

    repeatable: bool  # safe to send again after a crash: no "about to send" marker
    continue_on_failure: bool = False


class Started(_Model):
    """The first checkpoint of an instance: pre-flight outcome, step shapes, and the
    marker of step 0 when that step is not repeatable and is about to be sent."""

    prepared: Prepared
    steps: tuple[StepShape, ...] = ()
    mark: str | None = None


class Exchange(_Model):
    """One checkpointed step: the redacted result plus what the next step needs, and
    the next step's "about to send" marker when it is not repeatable and will be sent."""

    result: StepResult
    step: SavedStep
    cookies: tuple[SavedCookie, ...] = ()
    logs: tuple[str, ...] = ()
    next_mark: str | None = None
