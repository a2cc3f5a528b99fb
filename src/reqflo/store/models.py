"""The Cloud Runner's tables as typed SQLAlchemy 2 models.

Owns the schema: artifacts, runs, instances, run events (live progress), environments
and API tokens. Alembic migrations in `reqflo/store/migrations` create exactly these
tables; `Store` (reqflo.store.store) is the only code that queries them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RUN_STATUSES = ("queued", "running", "passed", "failed", "error", "indeterminate", "cancelled")
TERMINAL_STATUSES = frozenset(RUN_STATUSES[2:])
ROLES = ("viewer", "editor", "admin")


MAX_KEY_LENGTH = 400  # an instance key (data_key value), on SQLite and PostgreSQL alike


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class ArtifactRow(Base):
    __tablename__ = "artifacts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    journey: Mapped[str] = mapped_column(String(400), index=True)
    version: Mapped[str | None] = mapped_column(String(100))
    document: Mapped[str] = mapped_column(Text)  # reqflo.artifact.dumps(), verified on upload
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("requested_by", "idempotency_key", name="uq_runs_idem"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    artifact_id: Mapped[str] = mapped_column(ForeignKey("artifacts.id"), index=True)
    journey: Mapped[str] = mapped_column(String(400), index=True)
    environment: Mapped[str | None] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(20))
    rerun_of: Mapped[str | None] = mapped_column(String(64))
    case: Mapped[str | None] = mapped_column(String(200))
    inputs: Mapped[dict[str, Any]]
    rows: Mapped[list[Any] | None]
    data_key: Mapped[str | None] = mapped_column(String(200))
    concurrency: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errored: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    requested_by: Mapped[str] = mapped_column(String(64))


class InstanceRow(Base):
    __tablename__ = "instances"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    status: Mapped[str] = mapped_column(String(20))
    result: Mapped[dict[str, Any]]  # the redacted InstanceResult
    duration_ms: Mapped[float] = mapped_column(Float)


class EventRow(Base):
    __tablename__ = "run_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)  # the event as JSON (already redacted)


class EnvironmentRow(Base):
    __tablename__ = "environments"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    values: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
