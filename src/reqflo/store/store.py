"""The Cloud Runner store: small repository methods over the tables in `models`.

Owns every query. Each method opens its own short session and returns frozen records
(reqflo.store.records), so callers never hold database state. Writes the executor
makes are idempotent (upserts keyed by run id and instance index). API tokens are kept
as SHA-256 digests only; the token itself is returned once, at creation.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Engine, Select, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from reqflo.artifact import Artifact, dumps, loads
from reqflo.runner.results import InstanceResult, RunSummary
from reqflo.store.database import make_engine, migrate
from reqflo.store.durability import barrier_for
from reqflo.store.models import (
    ROLES,
    TERMINAL_STATUSES,
    ArtifactRow,
    EnvironmentRow,
    EventRow,
    InstanceRow,
    RunRow,
    TokenRow,
)
from reqflo.store.records import (
    ArtifactRecord,
    EnvironmentRecord,
    InstanceRecord,
    NewRun,
    RunRecord,
    StoredEvent,
    TokenRecord,
    now,
)
from reqflo.store.upsert import upsert

TOKEN_PREFIX = "rqf_"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewEvent:
    """A progress event to store (its payload is the event as JSON, already redacted)."""

    run_id: str
    kind: str
    payload: str


@dataclass(frozen=True)
class RunFilter:
    """Filters of a runs listing; None means any. `since` inclusive, `until` exclusive."""

    journey: str | None = None
    status: str | None = None
    environment: str | None = None
    trigger: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._barrier = barrier_for(engine.url.render_as_string(hide_password=True))

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and apply pending migrations."""
        engine = make_engine(url)
        migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def make_durable(self) -> None:
        """Every commit made so far survives a power loss (reqflo.store.durability)."""
        self._barrier.sync()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # ------------------------------------------------------------ tokens

    def create_token(self, name: str, role: str) -> tuple[TokenRecord, str]:
        """A new token: (its record, the token itself; shown once, stored hashed)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not '{role}'")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = TokenRow(
            id=secrets.token_hex(8), name=name, role=role, sha256=token_digest(token),
            created_at=now(),
        )  # fmt: skip
        with self.session() as session:
            session.add(row)
        return TokenRecord.of(row), token

    def token_for(self, token: str) -> TokenRecord | None:
        """The live (not revoked) token with this value, if any."""
        with self.session() as session:
            row = session.scalar(select(TokenRow).where(TokenRow.sha256 == token_digest(token)))
            return TokenRecord.of(row) if row and row.revoked_at is None else None

    def tokens(self) -> list[TokenRecord]:
        with self.session() as session:
            rows = session.scalars(select(TokenRow).order_by(TokenRow.created_at))
            return [TokenRecord.of(r) for r in rows]

    def revoke_token(self, token_id: str) -> TokenRecord | None:
        with self.session() as session:
            row = session.get(TokenRow, token_id)
            if row is None:
                return None
            row.revoked_at = row.revoked_at or now()
            return TokenRecord.of(row)

    # ------------------------------------------------------------ artifacts

    def put_artifact(self, artifact: Artifact) -> tuple[ArtifactRecord, bool]:
        """Store a verified artifact; (record, created). Idempotent by id."""
        existing = self.artifact_record(artifact.id)
        if existing is not None:
            return existing, False
        meta = artifact.plan.journey
        row = ArtifactRow(
            id=artifact.id, journey=meta.name, version=meta.version,
            document=dumps(artifact), created_at=now(),
        )  # fmt: skip
        try:
            with self.session() as session:
                session.add(row)
        except IntegrityError:  # uploaded concurrently: same id, same content
            return self.artifact_record(artifact.id) or ArtifactRecord.of(row), False
        return ArtifactRecord.of(row), True

    def artifact_record(self, artifact_id: str) -> ArtifactRecord | None:
        with self.session() as session:
            row = session.get(ArtifactRow, artifact_id)
            return ArtifactRecord.of(row) if row else None

    def artifact(self, artifact_id: str) -> Artifact | None:
        with self.session() as session:
            row = session.get(ArtifactRow, artifact_id)
            return loads(row.document) if row else None

    # ------------------------------------------------------------ environments

    def put_environment(self, name: str, values: dict[str, Any]) -> EnvironmentRecord:
        updated_at = now()
        record = {"name": name, "values": values, "updated_at": updated_at}
        with self.session() as session:
            upsert(session, EnvironmentRow, record, ["name"])
        return EnvironmentRecord(name, values, updated_at)

    def environment(self, name: str) -> EnvironmentRecord | None:
        with self.session() as session:
            row = session.get(EnvironmentRow, name)
            return EnvironmentRecord.of(row) if row else None

    def environments(self) -> list[EnvironmentRecord]:
        with self.session() as session:
            rows = session.scalars(select(EnvironmentRow).order_by(EnvironmentRow.name))
            return [EnvironmentRecord.of(r) for r in rows]

    # ------------------------------------------------------------ runs

    def create_run(self, new: NewRun) -> tuple[RunRecord, bool]:
        """Create a queued run; with an idempotency key already used by the same
        requester, return that run instead: (record, created)."""
        existing = self._idempotent_match(new)
        if existing is not None:
            return existing, False
        fields = asdict(new)
        row = RunRow(
            id=uuid.uuid4().hex, status="queued", total=fields.pop("instances"),
            passed=0, failed=0, errored=0, created_at=now(), **fields,
        )  # fmt: skip
        try:
            with self.session() as session:
                session.add(row)
        except IntegrityError:
            again = self._idempotent_match(new)
            if again is None:
                raise
            return again, False
        return RunRecord.of(row), True

    def _idempotent_match(self, new: NewRun) -> RunRecord | None:
        if new.idempotency_key is None:
            return None
        with self.session() as session:
            row = session.scalar(
                select(RunRow).where(
                    RunRow.requested_by == new.requested_by,
                    RunRow.idempotency_key == new.idempotency_key,
                )
            )
            return RunRecord.of(row) if row else None

    def run(self, run_id: str) -> RunRecord | None:
        with self.session() as session:
            row = session.get(RunRow, run_id)
            return RunRecord.of(row) if row else None

    def runs(
        self, where: RunFilter, limit: int = 50, offset: int = 0
    ) -> tuple[list[RunRecord], int]:
        """Newest first: (one page of runs, how many match in all)."""
        query = _filtered(where)
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            page = query.order_by(RunRow.created_at.desc(), RunRow.id).limit(limit).offset(offset)
            return [RunRecord.of(r) for r in session.scalars(page)], total

    def instances(self, run_id: str) -> list[InstanceRecord]:
        with self.session() as session:
            rows = session.scalars(
                select(InstanceRow).where(InstanceRow.run_id == run_id).order_by(InstanceRow.index)
            )
            return [InstanceRecord.of(r) for r in rows]

    def cancel_run(self, run_id: str) -> RunRecord | None:
        """Mark a queued or running run cancelled; a finished run is left as it is."""
        with self.session() as session:
            session.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status.in_(("queued", "running")))
                .values(status="cancelled", finished_at=now())
            )
        return self.run(run_id)

    def fail_unfinished(self, message: str) -> int:
        """End every queued or running run as `error` with `message`; how many."""
        with self.session() as session:
            result = session.execute(
                update(RunRow)
                .where(RunRow.status.in_(("queued", "running")))
                .values(status="error", error=message, finished_at=now())
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def status_counts(self) -> dict[str, int]:
        with self.session() as session:
            rows = session.execute(select(RunRow.status, func.count()).group_by(RunRow.status))
            return {status: count for status, count in rows}

    # ------------------------------------------------------------ executor writes

    def mark_started(self, run_id: str) -> None:
        with self.session() as session:
            session.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status == "queued")
                .values(status="running", started_at=now())
            )

    def save_instance(
        self, run_id: str, result: InstanceResult, events: list[NewEvent] | None = None
    ) -> None:
        """Upsert the instance's result and move the run's counts by the change (no
        recount of every instance: a run of n rows costs O(n), not O(n²)); saves of one
        run are serialised on the run's row. `events` (emitted before the result) are
        stored first, in the same transaction. An instance a cancel reported `cancelled`
        stays so (a durable instance's result can arrive just after the cancel)."""
        record = {
            "run_id": run_id, "index": result.index, "key": result.key,
            "status": result.status, "result": result.model_dump(mode="json"),
            "duration_ms": result.duration_ms,
        }  # fmt: skip
        with self.session() as session:
            if events:
                _insert_events(session, events)
            run = update(RunRow).where(RunRow.id == run_id)
            session.execute(run.values(total=RunRow.total))  # lock the run row first
            before = session.scalar(
                select(InstanceRow.status).where(
                    InstanceRow.run_id == run_id, InstanceRow.index == result.index
                )
            )
            if before == "cancelled" and _run_status(session, run_id) == "cancelled":
                return
            upsert(session, InstanceRow, record, ["run_id", "index"])
            changes = _count_changes(before, result.status)
            if changes:
                session.execute(run.values(**changes))

    def finish_run(self, run_id: str, summary: RunSummary, error: str | None = None) -> None:
        """Record the outcome; a cancelled run stays cancelled."""
        with self.session() as session:
            session.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.status.not_in(("cancelled",)))
                .values(
                    status=summary.status,
                    passed=summary.passed,
                    failed=summary.failed,
                    errored=summary.errored,
                    error=error,
                    finished_at=now(),
                )
            )
            session.execute(
                update(RunRow)
                .where(RunRow.id == run_id, RunRow.started_at.is_(None))
                .values(started_at=now())
            )

    def add_events(self, events: list[NewEvent]) -> None:
        """Store events in one transaction, in the order given."""
        with self.session() as session:
            _insert_events(session, events)

    def events_after(self, run_id: str, after: int, limit: int = 500) -> list[StoredEvent]:
        with self.session() as session:
            rows = session.scalars(
                select(EventRow)
                .where(EventRow.run_id == run_id, EventRow.id > after)
                .order_by(EventRow.id)
                .limit(limit)
            )
            return [StoredEvent(r.id, r.run_id, r.kind, r.payload) for r in rows]


def _insert_events(session: Session, events: list[NewEvent]) -> None:
    table = cast(Table, EventRow.__table__)  # Core insert: no ORM bulk-insert machinery
    session.execute(insert(table), [asdict(e) for e in events])


def _filtered(where: RunFilter) -> Select[RunRow]:
    query = select(RunRow)
    for column, value in (
        (RunRow.journey, where.journey),
        (RunRow.status, where.status),
        (RunRow.environment, where.environment),
        (RunRow.trigger, where.trigger),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.since is not None:
        query = query.where(RunRow.created_at >= where.since)
    if where.until is not None:
        query = query.where(RunRow.created_at < where.until)
    return query


def _count_column(status: str) -> str:
    return status if status in ("passed", "failed") else "errored"


def _run_status(session: Session, run_id: str) -> str | None:
    return session.scalar(select(RunRow.status).where(RunRow.id == run_id))


def _count_changes(before: str | None, after: str) -> dict[str, Any]:
    """The run-row count updates when an instance goes from `before` (None: new) to
    `after` (`errored` counts every status but passed and failed)."""
    new = _count_column(after)
    if before is None:
        return {new: getattr(RunRow, new) + 1}
    old = _count_column(before)
    if old == new:
        return {}
    return {old: getattr(RunRow, old) - 1, new: getattr(RunRow, new) + 1}


__all__ = ["TERMINAL_STATUSES", "NewEvent", "RunFilter", "Store", "token_digest"]
