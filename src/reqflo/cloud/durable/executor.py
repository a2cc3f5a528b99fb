"""`DurableExecutor`: the Cloud Runner's `RunExecutor` on the durable engine.

Constructing one makes this process a worker: it connects to the database, recovers the
workflows this executor id left pending, starts dequeuing runs and instances, beats its
heartbeat and sweeps dead workers (see reqflo.cloud.durable.liveness). `submit` only
enqueues (idempotent by run_id) and returns; results go to the `ResultSink` from
whichever worker runs the instance.

    executor = DurableExecutor(EngineConfig(database_url=..., data_dir=..., executor_id=...),
                               sink)
    executor.submit(queued_run); ...; executor.close()

Secrets are resolved in the worker by `secrets_for(environment, run_id)`, by default
the service's encrypted secret store in the same database (reqflo.cloud.secret_source:
run environment, then workspace-wide `*`, each resolution audited with its version and
run id), falling back to the worker's `REQFLO_SECRET_*` variables, then
`<data dir>/.reqflo/secrets.yaml`, for names the store does not know.
"""

from __future__ import annotations

import os
import socket
import uuid

from reqflo.cloud.durable.cancel import report_cancelled
from reqflo.cloud.durable.dbos_engine import DbosEngine, DbosSubmitter
from reqflo.cloud.durable.engine import DurableEngine, EngineConfig
from reqflo.cloud.durable.jobs import RunSpec
from reqflo.cloud.durable.keys import Sealer, load_master_key
from reqflo.cloud.durable.liveness import DEAD_AFTER_SECONDS, HEARTBEAT_SECONDS, Liveness
from reqflo.cloud.durable.runtime import SecretsFor, WorkerRuntime
from reqflo.cloud.executor import QueuedRun, ResultSink
from reqflo.cloud.secret_source import VaultOpener, cloud_secrets_for


def default_executor_id() -> str:
    """Unique per worker process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class DurableExecutor:
    """The durable RunExecutor. With `worker=True` (default) this process also executes
    runs; with `worker=False` it only submits and cancels (separate workers execute)."""

    def __init__(
        self,
        config: EngineConfig,
        sink: ResultSink,
        *,
        secrets_for: SecretsFor | None = None,
        heartbeat_s: float = HEARTBEAT_SECONDS,
        dead_after_s: float = DEAD_AFTER_SECONDS,
        worker: bool = True,
    ) -> None:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        sealer = Sealer(load_master_key(config.data_dir))
        self.config = config
        self.sink = sink
        self.liveness: Liveness | None = None
        self._vault: VaultOpener | None = None
        if not worker:
            self.engine: DurableEngine = DbosSubmitter(config, sealer)
            return
        if secrets_for is None:  # the service's secret store; migrated before DBOS starts
            self._vault = VaultOpener(config.data_dir, database_url=config.database_url)
            self._vault()
            actor = f"worker {config.executor_id}"
            secrets_for = cloud_secrets_for(self._vault, config.data_dir, actor)
        runtime = WorkerRuntime(
            secrets_for,
            sink,
            base_dir=config.data_dir,
            concurrency=config.worker_concurrency,
        )
        self.engine = DbosEngine(config, runtime, sealer)
        self.engine.start()
        self.liveness = Liveness(
            config.database_url,
            config.executor_id,
            self.engine.recover,
            interval_s=heartbeat_s,
            dead_after_s=dead_after_s,
        )
        self.liveness.start()

    def submit(self, run: QueuedRun) -> None:
        self.engine.submit(RunSpec.of(run))

    def cancel(self, run_id: str) -> None:
        """Stop the run's workflows, then report every unfinished instance as `cancelled`
        and a run summary to the sink (idempotent; a finished run is left as it is)."""
        cancelled = self.engine.cancel(run_id)
        if cancelled is not None:
            report_cancelled(cancelled, self.sink)

    def close(self) -> None:
        try:
            if self.liveness is not None:
                self.liveness.stop()
        finally:
            self.engine.close()
            self.sink.flush()  # events still buffered (e.g. on SIGTERM) are not lost
            if self._vault is not None:
                self._vault.close()
