"""`ScheduleStore`: the repository of schedules, their ticks and the runner settings.

Owns every query on the tables in `schedule_models`, plus run retention. The central
guarantee is `fire`: the tick row (primary key schedule id + tick instant) and the run
are inserted in ONE transaction, so among any number of servers sharing the database
exactly one creates the run; the others get an IntegrityError and do nothing.
Failure notifications are claimed the same way (a conditional UPDATE that only one
server can win). Each claim records its owner and instant, so a claim whose owner
died before submitting the run or finishing the delivery is taken over
(reqflo.store.schedule_claims). Webhook secrets are sealed with the master key given to
the store (reqflo.store.schedule_secrets) and readable only through `webhook_secret`.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reqflo.store.models import TERMINAL_STATUSES, ArtifactRow, EventRow, InstanceRow, RunRow
from reqflo.store.records import NewRun, RunRecord, now, utc
from reqflo.store.schedule_models import ScheduleRow, SettingsRow, TickRow
from reqflo.store.schedule_records import NewSchedule, RunnerSettings, ScheduleRecord, TickRecord
from reqflo.store.schedule_secrets import open_from, seal_into
from reqflo.store.store import Store

EDITABLE = frozenset(NewSchedule.__dataclass_fields__) - {"created_by", "enabled"}
FAILING = ("failed", "error", "indeterminate")
SETTINGS_KEY = "runner"


class DuplicateSchedule(ValueError):
    """A schedule with this name already exists."""


class ScheduleStore:
    """`master_key` seals and opens webhook secrets (without it, writing or reading one
    raises MasterKeyNeeded)."""

    def __init__(self, store: Store, master_key: bytes | None = None) -> None:
        self.store = store
        self._key = master_key

    def __repr__(self) -> str:  # never show the key
        return "ScheduleStore()"

    # ------------------------------------------------------------ schedules

    def create(self, new: NewSchedule, at: datetime) -> ScheduleRecord:
        fields = asdict(new)
        secret = fields.pop("webhook_secret")
        row = ScheduleRow(
            id=secrets.token_hex(8), **fields, created_at=at, updated_at=at, cursor=at
        )
        seal_into(row, secret, self._key)
        try:
            with self.store.session() as session:
                session.add(row)
        except IntegrityError as exc:
            raise DuplicateSchedule(f"a schedule named '{new.name}' already exists") from exc
        return ScheduleRecord.of(row)

    def get(self, key: str) -> ScheduleRecord | None:
        """By id or by name."""
        with self.store.session() as session:
            row = session.get(ScheduleRow, key) or session.scalar(
                select(ScheduleRow).where(ScheduleRow.name == key)
            )
            return ScheduleRecord.of(row) if row else None

    def all(self, enabled_only: bool = False) -> list[ScheduleRecord]:
        query = select(ScheduleRow).order_by(ScheduleRow.name)
        if enabled_only:
            query = query.where(ScheduleRow.enabled.is_(True))
        with self.store.session() as session:
            return [ScheduleRecord.of(r) for r in session.scalars(query)]

    def update(self, schedule_id: str, changes: dict[str, Any], at: datetime) -> ScheduleRecord:
        """Change the given fields (names of `NewSchedule`); ticks before `at` are not
        fired by the changed schedule."""
        unknown = set(changes) - EDITABLE
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        try:
            with self.store.session() as session:
                row = session.get(ScheduleRow, schedule_id)
                if row is None:
                    raise KeyError(schedule_id)
                for name, value in changes.items():
                    if name == "webhook_secret":
                        seal_into(row, value, self._key)
                    else:
                        setattr(row, name, value)
                row.updated_at, row.cursor = at, max(utc(row.cursor) or at, at)
        except IntegrityError as exc:
            raise DuplicateSchedule(f"a schedule named '{changes.get('name')}' exists") from exc
        return ScheduleRecord.of(row)

    def set_enabled(self, schedule_id: str, enabled: bool, at: datetime) -> ScheduleRecord:
        """Pause or resume; a resumed schedule does not fire the ticks of its pause."""
        with self.store.session() as session:
            row = session.get(ScheduleRow, schedule_id)
            if row is None:
                raise KeyError(schedule_id)
            if enabled and not row.enabled:
                row.cursor = max(utc(row.cursor) or at, at)
            row.enabled, row.updated_at = enabled, at
            return ScheduleRecord.of(row)

    def delete(self, schedule_id: str) -> bool:
        with self.store.session() as session:
            session.execute(delete(TickRow).where(TickRow.schedule_id == schedule_id))
            result = session.execute(delete(ScheduleRow).where(ScheduleRow.id == schedule_id))
            return bool(getattr(result, "rowcount", 0))

    def webhook_secret(self, schedule_id: str) -> str | None:
        """The schedule's webhook secret, opened with the master key (None: none set)."""
        with self.store.session() as session:
            row = session.get(ScheduleRow, schedule_id)
            return open_from(row, self._key) if row else None

    def latest_artifact_id(self, journey: str) -> str | None:
        with self.store.session() as session:
            return session.scalar(
                select(ArtifactRow.id)
                .where(ArtifactRow.journey == journey)
                .order_by(ArtifactRow.created_at.desc(), ArtifactRow.id)
                .limit(1)
            )

    # ------------------------------------------------------------ ticks

    def fire(
        self, schedule_id: str, tick_at: datetime, run: NewRun | None, error: str | None = None,
        owner: str | None = None, at: datetime | None = None,
    ) -> RunRecord | None:  # fmt: skip
        """Claim the tick for `owner` (at `at`) and create its run in one transaction. The
        run, or None when another server claimed the tick first (or `run` is None: the
        tick is recorded with `error`). The owner then submits the run and calls
        ClaimStore.submitted; until then the claim can be taken over once stale."""
        run_row = _run_row(run) if run is not None else None
        at = at or now()
        tick = TickRow(
            schedule_id=schedule_id, tick_at=tick_at, created_at=now(), error=error,
            run_id=run_row.id if run_row else None, notify_state=None if run_row else "none",
            claimed_by=owner, claimed_at=at, claims=1, notify_claims=0,
            submitted_at=None if run_row else at,
        )  # fmt: skip
        try:
            with self.store.session() as session:
                session.add(tick)
                session.flush()  # the tick first: the loser fails before inserting a run
                if run_row is not None:
                    session.add(run_row)
        except IntegrityError:
            return None
        return RunRecord.of(run_row) if run_row else None

    def advance(self, schedule_id: str, to: datetime) -> None:
        """Move the cursor forward (never back): ticks up to `to` are handled."""
        with self.store.session() as session:
            session.execute(
                update(ScheduleRow)
                .where(ScheduleRow.id == schedule_id, ScheduleRow.cursor < to)
                .values(cursor=to)
            )

    def ticks(self, schedule_id: str) -> list[TickRecord]:
        with self.store.session() as session:
            rows = session.scalars(
                select(TickRow).where(TickRow.schedule_id == schedule_id).order_by(TickRow.tick_at)
            )
            return [TickRecord.of(r) for r in rows]

    def finished_unnotified(self, limit: int = 100) -> list[tuple[TickRecord, RunRecord]]:
        """Ticks whose run has finished and whose notification is not decided yet."""
        with self.store.session() as session:
            rows = session.execute(
                select(TickRow, RunRow)
                .join(RunRow, RunRow.id == TickRow.run_id)
                .where(TickRow.notify_state.is_(None), RunRow.status.in_(TERMINAL_STATUSES))
                .limit(limit)
            )
            return [(TickRecord.of(t), RunRecord.of(r)) for t, r in rows]

    def claim_notification(
        self, tick: TickRecord, state: str, owner: str | None = None, at: datetime | None = None
    ) -> bool:
        """Move an undecided notification to `state` ("sending": claimed by `owner` at
        `at`); True for the one server that did."""
        values: dict[str, Any] = {"notify_state": state}
        if state == "sending":
            values.update(notify_claimed_by=owner, notify_claimed_at=at or now(),
                          notify_claims=TickRow.notify_claims + 1)  # fmt: skip
        with self.store.session() as session:
            result = session.execute(
                update(TickRow)
                .where(
                    TickRow.schedule_id == tick.schedule_id,
                    TickRow.tick_at == tick.tick_at,
                    TickRow.notify_state.is_(None),
                )
                .values(**values)
            )
            return bool(getattr(result, "rowcount", 0))

    def notified(self, tick: TickRecord, state: str, detail: str) -> None:
        with self.store.session() as session:
            session.execute(
                update(TickRow)
                .where(TickRow.schedule_id == tick.schedule_id, TickRow.tick_at == tick.tick_at)
                .values(notify_state=state, notify_detail=detail[:2000])
            )

    # ------------------------------------------------------------ settings

    def settings(self) -> RunnerSettings:
        with self.store.session() as session:
            row = session.get(SettingsRow, SETTINGS_KEY)
            return RunnerSettings.model_validate(row.values) if row else RunnerSettings()

    def put_settings(self, settings: RunnerSettings, at: datetime) -> RunnerSettings:
        values = settings.model_dump(mode="json")
        with self.store.session() as session:
            row = session.get(SettingsRow, SETTINGS_KEY)
            if row is None:
                session.add(SettingsRow(name=SETTINGS_KEY, values=values, updated_at=at))
            else:
                row.values, row.updated_at = values, at
        return settings

    # ------------------------------------------------------------ run limits

    def cancel_overdue(self, max_seconds: float, at: datetime) -> list[str]:
        """End runs running longer than `max_seconds` as cancelled (with the reason in
        `error`); their ids, for the executor to stop them."""
        cutoff = at - timedelta(seconds=max_seconds)
        reason = f"cancelled: the run exceeded the maximum run duration ({max_seconds:g} s)"
        with self.store.session() as session:
            overdue = list(session.scalars(
                select(RunRow.id).where(RunRow.status == "running", RunRow.started_at < cutoff)
            ))  # fmt: skip
            if overdue:
                session.execute(
                    update(RunRow)
                    .where(RunRow.id.in_(overdue), RunRow.status == "running")
                    .values(status="cancelled", error=reason, finished_at=now())
                )
        return overdue

    # ------------------------------------------------------------ retention

    def prune_runs(self, settings: RunnerSettings, at: datetime) -> int:
        """Delete finished runs older than `retention_days` or beyond the newest
        `retention_max_runs` finished runs; a queued or running run is never touched."""
        finished = RunRow.status.in_(TERMINAL_STATUSES)
        doomed: set[str] = set()
        with self.store.session() as session:
            if settings.retention_days is not None:
                cutoff = at - timedelta(days=settings.retention_days)
                old = select(RunRow.id).where(finished, RunRow.created_at < cutoff)
                doomed.update(session.scalars(old))
            if settings.retention_max_runs is not None:
                beyond = (
                    select(RunRow.id).where(finished)
                    .order_by(RunRow.created_at.desc(), RunRow.id)
                    .offset(settings.retention_max_runs)
                )  # fmt: skip
                doomed.update(session.scalars(beyond))
            ids = sorted(doomed)
            for start in range(0, len(ids), 500):
                _delete_runs(session, ids[start : start + 500])
        return len(ids)


def _delete_runs(session: Session, ids: list[str]) -> None:
    session.execute(delete(InstanceRow).where(InstanceRow.run_id.in_(ids)))
    session.execute(delete(EventRow).where(EventRow.run_id.in_(ids)))
    session.execute(update(TickRow).where(TickRow.run_id.in_(ids)).values(run_id=None))
    session.execute(delete(RunRow).where(RunRow.id.in_(ids), RunRow.status.in_(TERMINAL_STATUSES)))


def _run_row(new: NewRun) -> RunRow:
    fields = asdict(new)
    return RunRow(
        id=uuid.uuid4().hex, status="queued", total=fields.pop("instances"),
        passed=0, failed=0, errored=0, created_at=now(), **fields,
    )  # fmt: skip


__all__ = ["FAILING", "DuplicateSchedule", "ScheduleStore"]
