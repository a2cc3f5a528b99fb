"""`StoreSink`: how executors report runs into the store (the executor's `ResultSink`).

Every write is idempotent: the run moves to `running` only from `queued`, instances are
upserted by (run id, index), and finishing twice records the same outcome.

Progress events (for server-sent events) are buffered and written in batches, one
transaction per batch, on a best-effort basis (a failed write is logged and never fails
the run): a batch is written at most `flush_every_s` (0.1 s) after its first event, and
always before a run start, an instance result (in the same transaction as the result)
or a run summary is written, so the store keeps the order the events were emitted in;
a `run_finished` event is written at once. `flush()` writes what is pending (executors
call it when they close, so a worker stopped by SIGTERM keeps its buffered events).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError

from reqflo.runner.events import AnyEvent
from reqflo.runner.results import InstanceResult, RunSummary
from reqflo.store.store import NewEvent, Store

log = logging.getLogger(__name__)
FLUSH_EVERY_S = 0.1


class StoreSink:
    def __init__(self, store: Store, *, flush_every_s: float = FLUSH_EVERY_S) -> None:
        self.store = store
        self._every = flush_every_s
        self._pending: list[NewEvent] = []
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()  # guards _pending and _timer
        self._writing = threading.Lock()  # one batch at a time: ids follow emit order

    def run_started(self, run_id: str) -> None:
        self.flush()
        self.store.mark_started(run_id)

    def instance_finished(self, run_id: str, result: InstanceResult) -> None:
        with self._writing:
            batch = self._take()
            try:
                self.store.save_instance(run_id, result, events=batch)
                return
            except SQLAlchemyError:
                if not batch:
                    raise
                log.exception("could not record %d events with an instance result", len(batch))
            self.store.save_instance(run_id, result)

    def run_finished(self, run_id: str, summary: RunSummary) -> None:
        self.flush()
        self.store.finish_run(run_id, summary)

    def event(self, run_id: str, event: AnyEvent) -> None:
        record = NewEvent(run_id, event.kind, event.model_dump_json())
        with self._lock:
            self._pending.append(record)
            if self._timer is None:
                self._timer = threading.Timer(self._every, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if event.kind == "run_finished":
            self.flush()

    def flush(self) -> None:
        """Write the pending events now (one transaction)."""
        with self._writing:
            batch = self._take()
            if not batch:
                return
            try:
                self.store.add_events(batch)
            except SQLAlchemyError:
                log.exception("could not record %d events (%s)", len(batch), batch[0].kind)

    def _take(self) -> list[NewEvent]:
        with self._lock:
            batch, self._pending = self._pending, []
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()  # harmless when called from the timer's own thread
        return batch


__all__ = ["StoreSink"]
