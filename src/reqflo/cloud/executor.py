"""The executor contract between the Cloud Runner API and whatever executes runs.

Owns `QueuedRun` / `QueuedInstance` (what the API hands to an executor), `ResultSink`
(how an executor reports back; implemented by the store) and `RunExecutor` (the
in-process and the durable executors implement it). Both executors must produce
identical results in the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from reqflo.artifact import Artifact
from reqflo.runner.events import AnyEvent
from reqflo.runner.results import InstanceResult, RunSummary


@dataclass(frozen=True)
class QueuedInstance:
    index: int
    key: str
    values: dict[str, Any]  # run inputs (case/--set/data row merged); never secrets


@dataclass(frozen=True)
class QueuedRun:
    run_id: str
    artifact: Artifact  # reqflo.artifact.Artifact (verified)
    instances: tuple[QueuedInstance, ...]
    environment: str | None
    env: dict[str, Any]  # the environment's values (from the service's store)
    concurrency: int = 10
    me: dict[str, Any] = field(default_factory=dict)  # who runs it: the API token's identity
    # runner settings read when the run was queued (reqflo.runner.engine.RunContext)
    step_timeout_seconds: float | None = None
    transport_retries: int = 0
    transport_retry_backoff_seconds: float = 0.0


class ResultSink(Protocol):
    """Implemented by the store side; every method is safe to call more than once."""

    def run_started(self, run_id: str) -> None: ...

    def instance_finished(self, run_id: str, result: InstanceResult) -> None:
        """Idempotent by (run_id, result.index)."""

    def run_finished(self, run_id: str, summary: RunSummary) -> None:
        """Idempotent."""

    def event(self, run_id: str, event: AnyEvent) -> None:
        """Live progress (SSE), best effort; may be buffered until `flush` or a write."""

    def flush(self) -> None:
        """Write whatever is still buffered (executors call it when they close)."""


class RunExecutor(Protocol):
    def submit(self, run: QueuedRun) -> None:
        """Idempotent by run_id; returns quickly."""

    def cancel(self, run_id: str) -> None: ...

    def close(self) -> None: ...


__all__ = ["QueuedInstance", "QueuedRun", "ResultSink", "RunExecutor"]
