"""What the store hands out: frozen records, detached from database sessions.

Owns `ArtifactRecord`, `RunRecord`, `NewRun`, `InstanceRecord`, `EnvironmentRecord`,
`TokenRecord` and `StoredEvent`, and their conversion from rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reqflo.store.models import (
    TERMINAL_STATUSES,
    ArtifactRow,
    EnvironmentRow,
    InstanceRow,
    RunRow,
    TokenRow,
)


def utc(moment: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything we store is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ArtifactRecord:
    id: str
    journey: str
    version: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: ArtifactRow) -> ArtifactRecord:
        return cls(row.id, row.journey, row.version, utc(row.created_at) or now())


@dataclass(frozen=True)
class NewRun:
    """A run to create; `instances` is how many instances it will have."""

    artifact_id: str
    journey: str
    environment: str | None
    requested_by: str
    instances: int
    concurrency: int
    case: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] | None = None
    data_key: str | None = None
    idempotency_key: str | None = None
    trigger: str = "api"
    rerun_of: str | None = None


@dataclass(frozen=True)
class RunRecord:
    id: str
    artifact_id: str
    journey: str
    environment: str | None
    status: str
    idempotency_key: str | None
    trigger: str
    rerun_of: str | None
    case: str | None
    inputs: dict[str, Any]
    rows: list[dict[str, Any]] | None
    data_key: str | None
    concurrency: int
    total: int
    passed: int
    failed: int
    errored: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    requested_by: str

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def of(cls, row: RunRow) -> RunRecord:
        return cls(
            **{
                name: getattr(row, name)
                for name in cls.__dataclass_fields__
                if name not in {"created_at", "started_at", "finished_at"}
            },
            created_at=utc(row.created_at) or now(),
            started_at=utc(row.started_at),
            finished_at=utc(row.finished_at),
        )


@dataclass(frozen=True)
class InstanceRecord:
    run_id: str
    index: int
    key: str
    status: str
    result: dict[str, Any]
    duration_ms: float

    @classmethod
    def of(cls, row: InstanceRow) -> InstanceRecord:
        return cls(row.run_id, row.index, row.key, row.status, row.result, row.duration_ms)


@dataclass(frozen=True)
class EnvironmentRecord:
    name: str
    values: dict[str, Any]
    updated_at: datetime

    @classmethod
    def of(cls, row: EnvironmentRow) -> EnvironmentRecord:
        return cls(row.name, dict(row.values), utc(row.updated_at) or now())


@dataclass(frozen=True)
class TokenRecord:
    id: str
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: TokenRow) -> TokenRecord:
        return cls(row.id, row.name, row.role, utc(row.created_at) or now(), utc(row.revoked_at))


@dataclass(frozen=True)
class StoredEvent:
    id: int
    run_id: str
    kind: str
    payload: str
