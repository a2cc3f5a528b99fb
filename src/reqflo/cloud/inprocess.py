"""`InProcessExecutor`: runs cloud runs inside the server process (no durability).

Owns a background thread with its own asyncio loop. Each submitted run becomes a task
that waits for one of `max_runs` slots, then calls `reqflo.runner.run_group` with an
aiohttp transport and reports through a `ResultSink`: run started, every event, every
finished instance, the summary. Secrets resolve in this process through
`secrets_for(environment, run_id)`: by default, when the sink is the service's store, the
cloud secret store (reqflo.cloud.secret_source.CloudSecrets, falling back to
`REQFLO_SECRET_<NAME>` variables and the data directory's `.reqflo/secrets.yaml`), else
that local fallback only. A crash of the process loses the runs in flight;
the durable executor (reqflo.cloud.durable) is the one that survives crashes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from reqflo.cloud.executor import QueuedRun, ResultSink
from reqflo.cloud.secret_source import (
    RunSecretsFor,
    VaultOpener,
    cloud_secrets_for,
    local_secrets_for,
)
from reqflo.http import AiohttpTransport
from reqflo.runner.engine import InstanceSpec, RunContext, run_group
from reqflo.runner.events import AnyEvent, InstanceFinished
from reqflo.runner.results import RunSummary
from reqflo.store import StoreSink

log = logging.getLogger(__name__)
JOIN_SECONDS = 10.0


class SinkReporter:
    """A runner `Reporter` forwarding every event (and finished instance) to the sink."""

    def __init__(self, run_id: str, sink: ResultSink) -> None:
        self.run_id, self.sink = run_id, sink

    def handle(self, event: AnyEvent) -> None:
        if isinstance(event, InstanceFinished):
            self.sink.instance_finished(self.run_id, event.result)
        self.sink.event(self.run_id, event)

    def close(self) -> None:
        """Nothing buffered."""


class InProcessExecutor:
    def __init__(
        self,
        sink: ResultSink,
        data_dir: Path,
        max_runs: int = 4,
        *,
        secrets_for: RunSecretsFor | None = None,
    ) -> None:
        self.sink, self.data_dir = sink, data_dir
        self._secrets_for = secrets_for or _default_secrets(sink, data_dir)
        self._loop = asyncio.new_event_loop()
        self._slots = asyncio.Semaphore(max_runs)
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="reqflo-executor", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def submit(self, run: QueuedRun) -> None:
        with self._lock:
            if run.run_id in self._futures:
                return
            future = asyncio.run_coroutine_threadsafe(self._guarded(run), self._loop)
            self._futures[run.run_id] = future

    def cancel(self, run_id: str) -> None:
        with self._lock:
            future = self._futures.get(run_id)
        if future is not None:
            future.cancel()

    def wait(self, run_id: str, timeout: float | None = None) -> None:
        """Block until the run's task is done (for tests and orderly shutdown)."""
        with self._lock:
            future = self._futures.get(run_id)
        if future is not None and not future.cancelled():
            future.exception(timeout)

    def close(self) -> None:
        with self._lock:
            futures = list(self._futures.values())
        for future in futures:
            future.cancel()
        asyncio.run_coroutine_threadsafe(_settle(), self._loop).result(JOIN_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(JOIN_SECONDS)
        self._loop.close()
        self.sink.flush()

    async def _guarded(self, run: QueuedRun) -> None:
        async with self._slots:
            try:
                await self._execute(run)
            except asyncio.CancelledError:
                log.info("run %s cancelled", run.run_id)
                raise
            except Exception as exc:  # infrastructure fault: the run ends as `error`
                log.exception("run %s failed", run.run_id)
                self.sink.run_finished(run.run_id, _failed_summary(run, exc))

    async def _execute(self, run: QueuedRun) -> None:
        self.sink.run_started(run.run_id)
        secrets = self._secrets_for(run.environment, run.run_id)
        transport = AiohttpTransport(concurrency=run.concurrency)
        ctx = RunContext(
            transport=transport,
            secrets=secrets,
            environment=run.environment,
            env=run.env,
            me=run.me,
            concurrency=run.concurrency,
            run_id=run.run_id,
            base_dir=self.data_dir,
            step_timeout_seconds=run.step_timeout_seconds,
            transport_retries=run.transport_retries,
            transport_retry_backoff_seconds=run.transport_retry_backoff_seconds,
        )
        rows = [InstanceSpec(values=i.values, key=i.key) for i in run.instances]
        try:
            summary = await run_group(run.artifact, rows, ctx, SinkReporter(run.run_id, self.sink))
        finally:
            await transport.close()
        self.sink.run_finished(run.run_id, summary)


def _default_secrets(sink: ResultSink, data_dir: Path) -> RunSecretsFor:
    if isinstance(sink, StoreSink):
        opener = VaultOpener(data_dir, store=sink.store)
        return cloud_secrets_for(opener, data_dir, actor="server (in-process executor)")
    return local_secrets_for(data_dir)


async def _settle() -> None:
    """Let cancelled tasks run their cleanup before the loop stops."""
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() if t is not current]
    await asyncio.gather(*pending, return_exceptions=True)


def _failed_summary(run: QueuedRun, exc: Exception) -> RunSummary:
    total = len(run.instances)
    return RunSummary(
        run_id=run.run_id,
        artifact_id=run.artifact.id,
        journey=run.artifact.plan.journey.name,
        environment=run.environment,
        status="error",
        total=total,
        passed=0,
        failed=0,
        errored=total,
        started_at=time.time(),
        duration_ms=0.0,
    )


__all__ = ["InProcessExecutor", "SinkReporter"]
