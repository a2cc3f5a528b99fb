"""Events the engine emits while running; the console, reporters and the cloud consume them.

Owns the event models and the Reporter protocol. Events carry redacted results only.
Instances stream through `InstanceFinished`, so a consumer that does not keep them
lets memory stay flat however many data rows run.
"""

from __future__ import annotations

from typing import Protocol, Union

from pydantic import BaseModel, ConfigDict

from reqflo.runner.results import InstanceResult, RunSummary, StepResult


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)


class RunStarted(Event):
    kind: str = "run_started"
    run_id: str
    artifact_id: str
    journey: str
    environment: str | None = None
    total: int | None = None  # None while a streamed data file is still being read
    started_at: float


class InstanceStarted(Event):
    kind: str = "instance_started"
    instance: int
    key: str


class StepStarted(Event):
    kind: str = "step_started"
    instance: int
    step: int
    step_id: str


class StepFinished(Event):
    kind: str = "step_finished"
    instance: int
    result: StepResult


class InstanceFinished(Event):
    kind: str = "instance_finished"
    result: InstanceResult


class RunFinished(Event):
    kind: str = "run_finished"
    summary: RunSummary


AnyEvent = Union[  # noqa: UP007
    RunStarted, InstanceStarted, StepStarted, StepFinished, InstanceFinished, RunFinished
]


class Reporter(Protocol):
    """Consumes events in order; `close` flushes files once the run has finished."""

    def handle(self, event: AnyEvent) -> None: ...

    def close(self) -> None: ...
