"""Our own small durable-engine interface, so DBOS Transact can be replaced.

Owns `EngineConfig` (database URL, data dir, executor id, concurrency, polling) and the
`DurableEngine` protocol the executor and the worker use. The only implementation is
`reqflo.cloud.durable.dbos_engine.DbosEngine`; another engine must keep the same
guarantees: one workflow per run (id = run_id) enqueuing one child workflow per
instance (id = `{run_id}:{index}`), checkpointed steps, idempotent submit, recovery of
a worker's pending workflows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reqflo import __version__
from reqflo.artifact import SCHEMA_VERSION
from reqflo.cloud.durable.cancel import CancelledRun
from reqflo.cloud.durable.jobs import RunSpec

# The sequence of checkpointed steps an instance or run workflow records (names, order,
# outputs). DBOS recovers a workflow only on workers of the same application version, and
# replaying one recorded under another layout fails on a step mismatch; so any change to
# the layout bumps this (2: no separate prepare/mark/report steps, markers ride in the
# previous checkpoint, runs await batches of instances).
CHECKPOINT_LAYOUT = 2
APPLICATION_VERSION = f"reqflo-{__version__}-plan{SCHEMA_VERSION}-ckpt{CHECKPOINT_LAYOUT}"
RUN_QUEUE = "reqflo-runs"
INSTANCE_QUEUE = "reqflo-instances"


@dataclass(frozen=True)
class EngineConfig:
    database_url: str  # sqlite:///path/reqflo.db or postgresql://user@host/db
    data_dir: Path
    executor_id: str
    worker_concurrency: int = 20  # instances running at once in this worker process
    global_concurrency: int | None = None  # instances running at once across all workers
    run_concurrency: int = 50  # runs (parent workflows) coordinated at once per worker
    poll_interval_s: float = 0.5  # run queue and notifications
    # How often this process looks for enqueued instances: it bounds how long a freed
    # slot stays empty (bench, 500 rows on SQLite: 0.1 s gave ~10-15% more journeys/s
    # than 0.5 s, for ~2.5% of a core more while idle).
    instance_poll_s: float = 0.1


class DurableEngine(Protocol):
    def start(self) -> None:
        """Connect, migrate, recover this executor's pending workflows, start dequeuing."""

    def submit(self, spec: RunSpec) -> None:
        """Enqueue the run's workflow; a second submit of the same run_id is a no-op."""

    def cancel(self, run_id: str) -> CancelledRun | None:
        """Cancel the run's workflow and every instance workflow not finished yet; what the
        engine knows of the run afterwards (None: no such run)."""

    def recover(self, executor_ids: list[str]) -> int:
        """Hand the pending workflows of dead executors back to the queues; how many."""

    def close(self) -> None: ...
