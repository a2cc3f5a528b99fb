"""Request and response bodies of the Cloud Runner API (pydantic; in the OpenAPI document).

Requests forbid unknown fields, so a typo gets a precise 422 instead of being ignored;
text fields stored in text columns are `Text` (no NUL, which PostgreSQL cannot store).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reqflo.cloud.request_guard import JsonObject, JsonRows, Text
from reqflo.store import ArtifactRecord, EnvironmentRecord, InstanceRecord, RunRecord, TokenRecord

NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"
MAX_OFFSET = 1_000_000_000  # a list offset beyond it is a typo (and too large for SQLite)
MAX_ID = 2**31 - 1  # the largest run_events.id: an Integer, int4 on PostgreSQL
Role = Literal["viewer", "editor", "admin"]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunRequest(Request):
    artifact_id: Text = Field(min_length=6, max_length=64)
    environment: str | None = Field(default=None, pattern=NAME_PATTERN)
    case: Text | None = None
    inputs: JsonObject = Field(default_factory=dict)  # JSON: a NUL is data there
    rows: JsonRows | None = Field(default=None, max_length=100_000)
    data_key: Text | None = None
    idempotency_key: Text | None = Field(default=None, min_length=1, max_length=200)
    # None: the runner settings' concurrency for the journey (default_concurrency: 10)
    concurrency: int | None = Field(default=None, ge=1, le=1000)


class EnvironmentRequest(Request):
    values: JsonObject


class TokenRequest(Request):
    name: Text = Field(min_length=1, max_length=200)
    role: Role


class ArtifactOut(BaseModel):
    id: str
    journey: str
    version: str | None
    created_at: datetime

    @classmethod
    def of(cls, record: ArtifactRecord) -> ArtifactOut:
        return cls(**vars(record))


class ArtifactDetail(ArtifactOut):
    artifact: dict[str, Any]


class RunOut(BaseModel):
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

    @classmethod
    def of(cls, record: RunRecord) -> RunOut:
        return cls(**{k: v for k, v in vars(record).items() if k != "rows"})


class InstanceOut(BaseModel):
    index: int
    key: str
    status: str
    duration_ms: float
    result: dict[str, Any]

    @classmethod
    def of(cls, record: InstanceRecord) -> InstanceOut:
        return cls(**{k: v for k, v in vars(record).items() if k != "run_id"})


class RunDetail(RunOut):
    rows: int | None
    instances: list[InstanceOut]


class RunPage(BaseModel):
    runs: list[RunOut]
    total: int
    limit: int
    offset: int


class EnvironmentOut(BaseModel):
    name: str
    values: dict[str, Any]
    updated_at: datetime

    @classmethod
    def of(cls, record: EnvironmentRecord) -> EnvironmentOut:
        return cls(**vars(record))


class TokenOut(BaseModel):
    id: str
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: TokenRecord) -> TokenOut:
        return cls(**vars(record))


class NewTokenOut(TokenOut):
    token: str = Field(description="The token itself; shown once, stored hashed.")


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    database: str
