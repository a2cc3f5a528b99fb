"""Request and response bodies of the schedule and settings routes (pydantic, OpenAPI).

The webhook secret is write-only: requests may set it (it is sealed at rest), responses
only say whether one is set (`has_webhook_secret`); it is kept out of reprs and
validation errors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reqflo.cloud.api_models import NAME_PATTERN
from reqflo.cloud.request_guard import JsonObject, JsonRows, Text
from reqflo.store.schedule_records import ScheduleRecord

Missed = Literal["skip", "run_once"]


class ScheduleFields(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    cron: str = Field(min_length=1, max_length=200, examples=["30 2 * * *"])
    timezone: str = Field(default="UTC", max_length=100, examples=["Europe/Paris"])
    journey: Text | None = Field(default=None, max_length=400, description="Latest artifact of it")
    artifact_id: Text | None = Field(
        default=None, min_length=6, max_length=64, description="A pinned artifact"
    )
    environment: str | None = Field(default=None, pattern=NAME_PATTERN)
    case: Text | None = None
    inputs: JsonObject = Field(default_factory=dict)
    rows: JsonRows | None = Field(default=None, max_length=100_000)
    data_key: Text | None = None
    missed: Missed = Field(default="skip", description="Ticks missed while down: skip or run_once")
    webhook_url: str | None = Field(default=None, pattern=r"^https?://", max_length=2000)
    webhook_secret: str | None = Field(
        default=None, min_length=8, max_length=500, repr=False,
        description="HMAC key; write-only, stored encrypted, never returned",
    )  # fmt: skip


class ScheduleRequest(ScheduleFields):
    name: str = Field(pattern=NAME_PATTERN)
    enabled: bool = True

    @model_validator(mode="after")
    def one_target(self) -> ScheduleRequest:
        if (self.journey is None) == (self.artifact_id is None):
            raise ValueError("give exactly one of journey (its latest artifact) or artifact_id")
        return self


class ScheduleUpdate(BaseModel):
    """Only the fields given change (PATCH)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    cron: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, max_length=100)
    journey: Text | None = Field(default=None, max_length=400)
    artifact_id: Text | None = Field(default=None, min_length=6, max_length=64)
    environment: str | None = Field(default=None, pattern=NAME_PATTERN)
    case: Text | None = None
    inputs: JsonObject | None = None
    rows: JsonRows | None = Field(default=None, max_length=100_000)
    data_key: Text | None = None
    missed: Missed | None = None
    webhook_url: str | None = Field(default=None, pattern=r"^https?://", max_length=2000)
    webhook_secret: str | None = Field(default=None, min_length=8, max_length=500, repr=False)


class ScheduleOut(BaseModel):
    id: str
    name: str
    cron: str
    timezone: str
    journey: str | None
    artifact_id: str | None
    environment: str | None
    case: str | None
    inputs: dict[str, Any]
    rows: int | None
    data_key: str | None
    enabled: bool
    missed: str
    webhook_url: str | None
    has_webhook_secret: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    next_fires: list[datetime] = Field(default_factory=list)

    @classmethod
    def of(cls, record: ScheduleRecord, next_fires: list[datetime]) -> ScheduleOut:
        fields = {k: v for k, v in vars(record).items() if k not in {"rows", "cursor"}}
        rows = len(record.rows) if record.rows is not None else None
        return cls(**fields, rows=rows, next_fires=next_fires)
