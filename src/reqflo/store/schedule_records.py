"""What the schedule store hands out and takes in: frozen records and the runner settings.

Owns `NewSchedule` (what to create; a change is a dict of its field names),
`ScheduleRecord` (a stored schedule; it never carries the webhook secret, only whether
one is set),
`TickRecord` (a claimed tick, with its claims and the stable id of its notification)
and `RunnerSettings` (pydantic, validated; stored as one JSON document).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reqflo.store.records import now, utc
from reqflo.store.schedule_models import ScheduleRow, TickRow

Missed = Literal["skip", "run_once"]


@dataclass(frozen=True)
class NewSchedule:
    name: str
    cron: str
    timezone: str
    created_by: str
    journey: str | None = None
    artifact_id: str | None = None
    environment: str | None = None
    case: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] | None = None
    data_key: str | None = None
    enabled: bool = True
    missed: str = "skip"
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)  # sealed by the store


@dataclass(frozen=True)
class ScheduleRecord:
    id: str
    name: str
    cron: str
    timezone: str
    journey: str | None
    artifact_id: str | None
    environment: str | None
    case: str | None
    inputs: dict[str, Any]
    rows: list[dict[str, Any]] | None
    data_key: str | None
    enabled: bool
    missed: str
    webhook_url: str | None
    has_webhook_secret: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    cursor: datetime

    @classmethod
    def of(cls, row: ScheduleRow) -> ScheduleRecord:
        plain = {
            name: getattr(row, name)
            for name in cls.__dataclass_fields__
            if name not in {"has_webhook_secret", "created_at", "updated_at", "cursor"}
        }
        return cls(
            **plain,
            has_webhook_secret=bool(row.webhook_secret_ciphertext or row.webhook_secret),
            created_at=utc(row.created_at) or now(),
            updated_at=utc(row.updated_at) or now(),
            cursor=utc(row.cursor) or now(),
        )


@dataclass(frozen=True)
class TickRecord:
    schedule_id: str
    tick_at: datetime
    run_id: str | None
    error: str | None
    notify_state: str | None
    notify_detail: str | None
    claimed_by: str | None = None  # who claimed the submission of its run
    claimed_at: datetime | None = None
    claims: int = 1  # how many times it was claimed (the first fire is claim 1)
    submitted_at: datetime | None = None  # None: the run was not handed to an executor yet
    notify_claimed_by: str | None = None  # who claimed sending its failure notification
    notify_claimed_at: datetime | None = None
    notify_claims: int = 0

    @classmethod
    def of(cls, row: TickRow) -> TickRecord:
        return cls(
            row.schedule_id, utc(row.tick_at) or now(), row.run_id, row.error,
            row.notify_state, row.notify_detail, row.claimed_by, utc(row.claimed_at),
            row.claims or 1, utc(row.submitted_at), row.notify_claimed_by,
            utc(row.notify_claimed_at), row.notify_claims or 0,
        )  # fmt: skip

    @property
    def delivery_id(self) -> str:
        """Stable id of its failure notification (the same on every retry and resend)."""
        name = f"reqflo:schedule:{self.schedule_id}:{self.tick_at.isoformat()}"
        return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


class RunnerSettings(BaseModel):
    """The service-wide runner settings (admin). See README "Runner settings" for which
    ones are enforced today."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_concurrency: int = Field(default=10, ge=1, le=1000)
    journey_concurrency: dict[str, Annotated[int, Field(ge=1, le=1000)]] = Field(
        default_factory=dict
    )
    step_timeout_seconds: float | None = Field(default=None, gt=0)
    max_run_seconds: float | None = Field(default=None, gt=0)
    transport_retries: int = Field(default=0, ge=0, le=10)
    transport_retry_backoff_seconds: float = Field(default=1.0, ge=0)
    retention_days: float | None = Field(default=None, gt=0)
    retention_max_runs: int | None = Field(default=None, ge=1)

    def concurrency_for(self, journey: str) -> int:
        return self.journey_concurrency.get(journey, self.default_concurrency)
