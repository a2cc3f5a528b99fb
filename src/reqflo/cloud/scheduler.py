"""The scheduler loop: fires due schedule ticks, sends failure notifications, prunes runs.

Owns `Scheduler`. Each pass (`run_pass`, every `interval` seconds in a background
thread, or called directly by tests with an injected `clock`):
1. for every enabled schedule, the fire instants after its cursor up to now
   (reqflo.cloud.cron). Ticks older than `grace` were missed (the service was down):
   policy `skip` drops them, `run_once` fires only the latest of them. Each tick is
   claimed with its run in one transaction (ScheduleStore.fire), so with any number of
   servers on one database each tick creates exactly one run; the winner submits it to
   its executor. The cursor then moves past the handled ticks.
2. finished scheduled runs that failed (failed, error, indeterminate) are notified to
   the schedule's webhook (reqflo.cloud.webhooks), claimed by one server;
3. runs running longer than `max_run_seconds` are cancelled (store and executor);
4. result retention (runner settings) prunes finished runs, at most once a minute.
Scheduled runs use the runner settings' concurrency for their journey and their step
limits (step timeout cap, transport retries).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from reqflo.cloud.api_submit import queued_run
from reqflo.cloud.cron import CronSpec
from reqflo.cloud.executor import RunExecutor
from reqflo.cloud.webhooks import deliver, failure_payload
from reqflo.store import NewRun, RunRecord, Store
from reqflo.store.schedule_records import RunnerSettings, ScheduleRecord, TickRecord
from reqflo.store.schedule_store import FAILING, ScheduleStore

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
PRUNE_EVERY = timedelta(minutes=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(
        self,
        store: Store,
        executor: RunExecutor,
        base_url: str,
        clock: Clock = utc_now,
        interval: float = 5.0,
        grace: timedelta = timedelta(minutes=2),
        webhook_backoff: float = 1.0,
    ) -> None:
        self.store, self.schedules = store, ScheduleStore(store)
        self.executor, self.base_url, self.clock = executor, base_url, clock
        self.interval, self.grace, self.webhook_backoff = interval, grace, webhook_backoff
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._senders = ThreadPoolExecutor(2, thread_name_prefix="reqflo-webhook")
        self._pruned_at: datetime | None = None

    # ------------------------------------------------------------ the loop

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="reqflo-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self._senders.shutdown(wait=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pass()
            except Exception:  # a database hiccup must not end the loop
                log.exception("scheduler pass failed")
            self._stop.wait(self.interval)

    def run_pass(self, wait_notifications: bool = False) -> list[RunRecord]:
        """One pass; the runs this server created."""
        now, settings = self.clock(), self.schedules.settings()
        fired: list[RunRecord] = []
        for schedule in self.schedules.all(enabled_only=True):
            try:
                fired += self.fire_due(schedule, now, settings)
            except Exception:
                log.exception("schedule %s (%s) could not fire", schedule.name, schedule.id)
        self.notify_failures(wait_notifications)
        self.stop_overdue(settings, now)
        self.prune(settings, now)
        return fired

    # ------------------------------------------------------------ ticks

    def fire_due(
        self, schedule: ScheduleRecord, now: datetime, settings: RunnerSettings
    ) -> list[RunRecord]:
        due = CronSpec(schedule.cron, schedule.timezone).fires_between(schedule.cursor, now)
        if not due:
            return []
        missed = [t for t in due if t < now - self.grace]
        chosen = [t for t in due if t >= now - self.grace]
        if missed and schedule.missed == "run_once":
            chosen.insert(0, missed[-1])
        if missed:
            log.info("schedule %s: %d missed ticks (%s)", schedule.name, len(missed),
                     schedule.missed)  # fmt: skip
        fired = [run for tick in chosen if (run := self._fire(schedule, tick, settings))]
        self.schedules.advance(schedule.id, due[-1])
        return fired

    def _fire(
        self, schedule: ScheduleRecord, tick: datetime, settings: RunnerSettings
    ) -> RunRecord | None:
        artifact_id = schedule.artifact_id or self.schedules.latest_artifact_id(
            schedule.journey or ""
        )
        artifact = self.store.artifact(artifact_id) if artifact_id else None
        env = self.store.environment(schedule.environment) if schedule.environment else None
        if artifact is None or (schedule.environment and env is None):
            problem = (
                f"no artifact for journey '{schedule.journey}'" if artifact is None
                else f"environment '{schedule.environment}' does not exist"
            )  # fmt: skip
            log.warning("schedule %s at %s: %s", schedule.name, tick.isoformat(), problem)
            self.schedules.fire(schedule.id, tick, None, problem)
            return None
        journey = artifact.plan.journey.name
        new = NewRun(
            artifact_id=artifact.id, journey=journey, environment=schedule.environment,
            requested_by=schedule.created_by,
            instances=len(schedule.rows) if schedule.rows is not None else 1,
            concurrency=settings.concurrency_for(journey), case=schedule.case,
            inputs=schedule.inputs, rows=schedule.rows, data_key=schedule.data_key,
            idempotency_key=f"schedule:{schedule.id}:{tick.isoformat()}", trigger="schedule",
        )  # fmt: skip
        record = self.schedules.fire(schedule.id, tick, new)
        if record is None:
            return None  # another server claimed this tick
        me = {"id": schedule.created_by, "name": f"schedule {schedule.name}",
              "user": f"schedule:{schedule.name}", "role": "schedule"}  # fmt: skip
        env_values = env.values if env else {}
        self.executor.submit(queued_run(record, artifact, env_values, me, settings))
        log.info("schedule %s fired run %s for %s", schedule.name, record.id, tick.isoformat())
        return record

    # ------------------------------------------------------------ notifications

    def notify_failures(self, wait: bool = False) -> None:
        pending = []
        for tick, run in self.schedules.finished_unnotified():
            schedule = self.schedules.get(tick.schedule_id)
            if schedule is None or run.status not in FAILING or not schedule.webhook_url:
                self.schedules.claim_notification(tick, "none")
            elif self.schedules.claim_notification(tick, "sending"):
                pending.append(self._senders.submit(self._send, schedule, tick, run))
        if wait:
            for future in pending:
                future.result()

    def _send(self, schedule: ScheduleRecord, tick: TickRecord, run: RunRecord) -> None:
        url = schedule.webhook_url or ""
        payload = failure_payload(schedule, run, self.base_url)
        secret = self.schedules.webhook_secret(schedule.id)
        result = deliver(url, payload, secret, backoff=self.webhook_backoff)
        self.schedules.notified(tick, "sent" if result.delivered else "failed", result.detail)
        if not result.delivered:
            log.warning("webhook of schedule %s failed: %s", schedule.name, result.detail)

    # ------------------------------------------------------------ limits and retention

    def stop_overdue(self, settings: RunnerSettings, now: datetime) -> list[str]:
        """Cancel runs (any trigger) running longer than `max_run_seconds`."""
        if settings.max_run_seconds is None:
            return []
        overdue = self.schedules.cancel_overdue(settings.max_run_seconds, now)
        for run_id in overdue:
            log.warning("run %s exceeded max_run_seconds; cancelled", run_id)
            self.executor.cancel(run_id)
        return overdue

    def prune(self, settings: RunnerSettings, now: datetime) -> int:
        if settings.retention_days is None and settings.retention_max_runs is None:
            return 0
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return 0
        self._pruned_at = now
        pruned = self.schedules.prune_runs(settings, now)
        if pruned:
            log.info("retention: %d finished runs pruned", pruned)
        return pruned


def start_scheduler(store: Store, executor: RunExecutor, host: str, port: int) -> Scheduler:
    """The loop `reqflo server` runs; links in notifications use `REQFLO_PUBLIC_URL`
    (default http://HOST:PORT)."""
    base_url = os.environ.get("REQFLO_PUBLIC_URL") or f"http://{host}:{port}"
    scheduler = Scheduler(store, executor, base_url)
    scheduler.start()
    return scheduler


__all__ = ["Clock", "Scheduler", "start_scheduler", "utc_now"]
