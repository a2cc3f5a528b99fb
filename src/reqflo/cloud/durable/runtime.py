"""Process-wide collaborators of a durable worker.

Owns `WorkerRuntime`: one event loop on a background thread with one shared
`AiohttpTransport` (a keep-alive pool for every instance this process runs), the secret
source per run (`secrets_for(environment, run_id)`, resolved in the worker just before a
request is built, never checkpointed; bounded like the run caches), the run-wide OAuth
token caches and redactor caches (bounded, in memory only) and the result sink. Workflow
threads call `run(coro)` to execute async runner code on that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from reqflo.cloud.executor import ResultSink
from reqflo.http import AiohttpTransport, Transport
from reqflo.runner.build import OAuthTokens
from reqflo.runner.events import AnyEvent
from reqflo.runner.evidence import SharedRedactors
from reqflo.runner.preflight import SecretSource

T = TypeVar("T")
SecretsFor = Callable[[str | None, str], SecretSource]  # (environment, run id)
_RUN_CACHE = 64  # runs whose OAuth tokens and redactors stay cached


class WorkerRuntime:
    def __init__(
        self,
        secrets_for: SecretsFor,
        sink: ResultSink,
        *,
        base_dir: Path,
        concurrency: int = 20,
        transport_factory: Callable[[], Transport] | None = None,
    ) -> None:
        self.sink = sink
        self.base_dir = base_dir
        self._secrets_for = secrets_for
        self._secrets: OrderedDict[tuple[str | None, str], SecretSource] = OrderedDict()
        self._runs: OrderedDict[str, tuple[OAuthTokens, SharedRedactors]] = OrderedDict()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="reqflo-http", daemon=True
        )
        self._thread.start()
        factory = transport_factory or (lambda: AiohttpTransport(concurrency=concurrency))
        self.transport: Transport = factory()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result()

    def secrets(self, environment: str | None, run_id: str) -> SecretSource:
        with self._lock:
            key = (environment, run_id)
            source = self._secrets.get(key)
            if source is None:
                source = self._secrets[key] = self._secrets_for(environment, run_id)
                while len(self._secrets) > _RUN_CACHE:
                    self._secrets.popitem(last=False)
            self._secrets.move_to_end(key)
            return source

    def run_caches(self, run_id: str) -> tuple[OAuthTokens, SharedRedactors]:
        with self._lock:
            caches = self._runs.get(run_id)
            if caches is None:
                caches = self._runs[run_id] = (OAuthTokens(), SharedRedactors())
                while len(self._runs) > _RUN_CACHE:
                    self._runs.popitem(last=False)
            self._runs.move_to_end(run_id)
            return caches

    def emit(self, run_id: str, event: AnyEvent) -> None:
        """Live progress, best effort: a failing sink never stops a run."""
        with contextlib.suppress(Exception):
            self.sink.event(run_id, event)

    def close(self) -> None:
        """Close the transport, then cancel what still runs on the loop (a step in flight
        at shutdown), so no workflow thread waits forever in `run` for a loop that has
        stopped (interpreter exit would wait for that thread)."""
        if not self._loop.is_running():
            return
        try:
            self.run(self.transport.close())
            self.run(_cancel_the_rest())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                self._loop.close()


async def _cancel_the_rest() -> None:
    current = asyncio.current_task()
    rest = [t for t in asyncio.all_tasks() if t is not current]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
