"""`StoreSink`: how executors report runs into the store (the executor's `ResultSink`).

Every write is idempotent: the run moves to `running` only from `queued`, instances are
upserted by (run id, index), and finishing twice records the same outcome. Events are
kept in order (for server-sent events) on a best-effort basis: a failed event write is
logged and never fails the run.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from reqflo.runner.events import AnyEvent
from reqflo.runner.results import InstanceResult, RunSummary
from reqflo.store.store import Store

log = logging.getLogger(__name__)


class StoreSink:
    def __init__(self, store: Store) -> None:
        self.store = store

    def run_started(self, run_id: str) -> None:
        self.store.mark_started(run_id)

    def instance_finished(self, run_id: str, result: InstanceResult) -> None:
        self.store.save_instance(run_id, result)

    def run_finished(self, run_id: str, summary: RunSummary) -> None:
        self.store.finish_run(run_id, summary)

    def event(self, run_id: str, event: AnyEvent) -> None:
        try:
            self.store.add_event(run_id, event.kind, event.model_dump_json())
        except SQLAlchemyError:
            log.exception("could not record a %s event of run %s", event.kind, run_id)


__all__ = ["StoreSink"]
