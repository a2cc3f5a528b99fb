"""The scheduler loop: fires due schedule ticks, sends failure notifications, prunes runs.

Owns `Scheduler`. Each pass (`run_pass`, every `interval` seconds in a background
thread, or called directly by tests with an injected `clock`):
1. for every enabled schedule, the fire instants after its cursor up to now
   (reqflo.cloud.cron). Ticks older than `grace` were missed (the service was down):
   policy `skip` drops them, `run_once` fires only the latest of them. Each tick is
   claimed with its run in one transaction (ScheduleStore.fire), so with any number of
   servers on one database each tick creates exactly one run; the winner submits it to
   its executor and records the submission. The cursor then moves past the handled ticks.
   A claim not recorded as submitted after `claim_lease` (its owner died in between) is
   taken over by one scheduler, which submits the same run (reqflo.store.schedule_claims);
   after `max_claims` claims the run ends `error`.
2. finished scheduled runs that failed (failed, error, indeterminate) are notified to
   the schedule's webhook (reqflo.cloud.webhooks), claimed by one server; a delivery
   still `sending` after `notify_lease` (its sender died) is sent again, same delivery id;
3. runs running longer than `max_run_seconds` are cancelled (store and executor);
4. result retention (runner settings) prunes finished runs, at most once a minute.
Scheduled runs use the runner settings' concurrency for their journey and their step
limits (step timeout cap, transport retries). Webhook secrets are opened with the
server's master key; webhook URLs pass the SSRF guard unless `allow_private`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reqflo.artifact import Artifact
from reqflo.cloud.api_submit import queued_run
from reqflo.cloud.cron import CronSpec
from reqflo.cloud.durable.keys import load_master_key
from reqflo.cloud.executor import RunExecutor
from reqflo.cloud.webhooks import deliver, failure_payload
from reqflo.store import NewRun, RunRecord, Store
from reqflo.store.schedule_claims import ClaimStore
from reqflo.store.schedule_records import RunnerSettings, ScheduleRecord, TickRecord
from reqflo.store.schedule_secrets import seal_plaintext
from reqflo.store.schedule_store import FAILING, ScheduleStore

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
PRUNE_EVERY = timedelta(minutes=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


def default_owner() -> str:
    """Unique per scheduler: host, pid and a random suffix."""
    return f"{socket.gethostname()[:60]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclasses.dataclass(frozen=True)
class Leases:
    """How long a claim may stay unfinished before another scheduler takes it over, and
    how many claims a tick gets before its work is abandoned."""

    submit: timedelta = timedelta(seconds=60)  # a submit takes milliseconds
    notify: timedelta = timedelta(minutes=5)  # > a whole delivery: 5 × 10 s + backoff
    max_claims: int = 5


class Scheduler:
    def __repr__(self) -> str:  # never show the key
        return f"Scheduler(owner={self.owner!r})"

    def __init__(
        self,
        store: Store,
        executor: RunExecutor,
        base_url: str,
        clock: Clock = utc_now,
        interval: float = 5.0,
        grace: timedelta = timedelta(minutes=2),
        webhook_backoff: float = 1.0,
        *,
        master_key: bytes | None = None,
        allow_private: bool = False,
        leases: Leases = Leases(),
        owner: str | None = None,
    ) -> None:
        self.store, self.schedules = store, ScheduleStore(store, master_key)
        self.claims, self.leases, self.owner = ClaimStore(store), leases, owner or default_owner()
        self.executor, self.base_url, self.clock = executor, base_url, clock
        self.interval, self.grace, self.webhook_backoff = interval, grace, webhook_backoff
        self.allow_private = allow_private
        self._unsealed_key = master_key  # plaintext secrets of old versions: sealed once
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
        if self._unsealed_key is not None:
            if sealed := seal_plaintext(self.store, self._unsealed_key):
                log.info("%d webhook secrets stored in clear are now sealed", sealed)
            self._unsealed_key = None
        fired: list[RunRecord] = []
        for schedule in self.schedules.all(enabled_only=True):
            try:
                fired += self.fire_due(schedule, now, settings)
            except Exception:
                log.exception("schedule %s (%s) could not fire", schedule.name, schedule.id)
        self.recover_submissions(now, settings)
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
        fired = [run for tick in chosen if (run := self._fire(schedule, tick, settings, now))]
        self.schedules.advance(schedule.id, due[-1])
        return fired

    def _fire(
        self, schedule: ScheduleRecord, tick: datetime, settings: RunnerSettings, now: datetime
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
            self.schedules.fire(schedule.id, tick, None, problem, self.owner, now)
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
        record = self.schedules.fire(schedule.id, tick, new, None, self.owner, now)
        if record is None:
            return None  # another server claimed this tick
        self._submit(schedule.name, record, artifact, env.values if env else {}, settings)
        self.claims.submitted(schedule.id, tick, now)
        log.info("schedule %s fired run %s for %s", schedule.name, record.id, tick.isoformat())
        return record

    def _submit(self, name: str, record: RunRecord, artifact: Artifact,
                env: dict[str, Any], settings: RunnerSettings) -> None:  # fmt: skip
        me = {"id": record.requested_by, "name": f"schedule {name}",
              "user": f"schedule:{name}", "role": "schedule"}  # fmt: skip
        self.executor.submit(queued_run(record, artifact, env, me, settings))

    # ------------------------------------------------------------ claims of dead owners

    def recover_submissions(self, now: datetime, settings: RunnerSettings) -> list[RunRecord]:
        """Submit the runs of ticks whose claim went stale before their submission was
        recorded (the owner crashed in between); the runs this scheduler submitted."""
        recovered: list[RunRecord] = []
        for tick, run in self.claims.stale_submissions(now - self.leases.submit):
            try:
                if self._recover(tick, run, now, settings):
                    recovered.append(run)
            except Exception:
                log.exception("the run %s of a stale tick could not be submitted", run.id)
        return recovered

    def _recover(
        self, tick: TickRecord, run: RunRecord, now: datetime, settings: RunnerSettings
    ) -> bool:
        if run.status != "queued":  # it reached an executor before the crash, or ended
            self.claims.submitted(tick.schedule_id, tick.tick_at, now)
            return False
        if tick.claims >= self.leases.max_claims:
            reason = f"the scheduled run was claimed {tick.claims} times and never submitted"
            if self.claims.abandon(tick, reason, now):
                log.error("run %s: %s; it ends as error", run.id, reason)
            return False
        if not self.claims.take_over(tick, self.owner, now):
            return False  # another scheduler took it over first
        artifact = self.store.artifact(run.artifact_id)
        env = self.store.environment(run.environment) if run.environment else None
        if artifact is None or (run.environment and env is None):
            taken = dataclasses.replace(tick, claims=tick.claims + 1)
            self.claims.abandon(taken, "its artifact or environment no longer exists", now)
            return False
        schedule = self.schedules.get(tick.schedule_id)
        name = schedule.name if schedule else tick.schedule_id
        self._submit(name, run, artifact, env.values if env else {}, settings)
        self.claims.submitted(tick.schedule_id, tick.tick_at, now)
        log.warning("run %s of schedule %s (tick %s) taken over from %s and submitted",
                    run.id, name, tick.tick_at.isoformat(), tick.claimed_by)  # fmt: skip
        return True

    # ------------------------------------------------------------ notifications

    def notify_failures(self, wait: bool = False) -> None:
        now, pending = self.clock(), []
        for tick, run in self.schedules.finished_unnotified():
            failed = run.status in FAILING  # a passed run needs no look-up of its schedule
            schedule = self.schedules.get(tick.schedule_id) if failed else None
            if schedule is None or not schedule.webhook_url:
                self.schedules.claim_notification(tick, "none")
            elif self.schedules.claim_notification(tick, "sending", self.owner, now):
                pending.append(self._senders.submit(self._send, schedule, tick, run))
        pending += self._resend_interrupted(now)
        if wait:
            for future in pending:
                future.result()

    def _resend_interrupted(self, now: datetime) -> list[Future[None]]:
        """Deliveries left `sending` by a sender that died: sent again (same delivery id)."""
        pending = []
        for tick, run in self.claims.stale_sendings(now - self.leases.notify):
            schedule = self.schedules.get(tick.schedule_id)
            if schedule is None or not schedule.webhook_url:
                self.claims.abandon_notification(tick, "the schedule's webhook was removed")
            elif tick.notify_claims >= self.leases.max_claims:
                self.claims.abandon_notification(
                    tick, f"gave up: {tick.notify_claims} deliveries were interrupted"
                )
            elif self.claims.take_over_notification(tick, self.owner, now):
                log.warning("webhook delivery %s of schedule %s was interrupted; sending again",
                            tick.delivery_id, schedule.name)  # fmt: skip
                pending.append(self._senders.submit(self._send, schedule, tick, run))
        return pending

    def _send(self, schedule: ScheduleRecord, tick: TickRecord, run: RunRecord) -> None:
        url = schedule.webhook_url or ""
        payload = failure_payload(schedule, run, self.base_url, tick.delivery_id)
        try:
            secret = self.schedules.webhook_secret(schedule.id)
        except Exception as exc:  # wrong master key, tampered: never a value in the error
            detail = f"the webhook secret cannot be opened: {type(exc).__name__}"
            self.schedules.notified(tick, "failed", detail)
            log.error("webhook of schedule %s not sent: %s", schedule.name, detail)
            return
        result = deliver(
            url, payload, secret, backoff=self.webhook_backoff,
            delivery_id=tick.delivery_id, allow_private=self.allow_private,
        )  # fmt: skip
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


def start_scheduler(
    store: Store, executor: RunExecutor, host: str, port: int, *,
    data_dir: Path | None = None, allow_private: bool = False,
) -> Scheduler:  # fmt: skip
    """The loop `reqflo server` runs; links in notifications use `REQFLO_PUBLIC_URL`
    (default http://HOST:PORT); webhook secrets open with the data directory's master
    key (reqflo.cloud.durable.keys)."""
    base_url = os.environ.get("REQFLO_PUBLIC_URL") or f"http://{host}:{port}"
    key = load_master_key(data_dir) if data_dir is not None else None
    scheduler = Scheduler(store, executor, base_url, master_key=key, allow_private=allow_private)
    scheduler.start()
    return scheduler


__all__ = ["Clock", "Leases", "Scheduler", "default_owner", "start_scheduler", "utc_now"]
