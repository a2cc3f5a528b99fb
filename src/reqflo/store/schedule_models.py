"""Tables of scheduled automation: schedules, claimed ticks and the runner settings.

Owns `ScheduleRow` (cron + timezone + what to run + webhook), `TickRow` (one row per
fired tick; its primary key (schedule_id, tick_at) is what makes a tick fire exactly
once across servers; it also records who claimed the submission of its run and of its
failure notification, so a claim whose owner died is taken over) and `SettingsRow` (the
runner settings as one JSON document). Migration 0003 creates these tables, 0005 adds
the claim columns and the sealed webhook secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reqflo.store.models import Base

MISSED_POLICIES = ("skip", "run_once")


class ScheduleRow(Base):
    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(100))
    journey: Mapped[str | None] = mapped_column(String(400))  # latest artifact of it
    artifact_id: Mapped[str | None] = mapped_column(String(64))  # or this pinned one
    environment: Mapped[str | None] = mapped_column(String(200))
    case: Mapped[str | None] = mapped_column(String(200))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    rows: Mapped[list[Any] | None] = mapped_column(JSON)
    data_key: Mapped[str | None] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean)
    missed: Mapped[str] = mapped_column(String(20))  # MISSED_POLICIES
    webhook_url: Mapped[str | None] = mapped_column(Text)
    # the webhook secret, sealed (reqflo.store.schedule_secrets); never returned by the API
    webhook_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    webhook_secret_wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    webhook_secret_key_id: Mapped[str | None] = mapped_column(String(16))
    webhook_secret_version: Mapped[int | None] = mapped_column(Integer)
    webhook_secret: Mapped[str | None] = mapped_column(
        Text
    )  # plaintext before 0005; sealed on start
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cursor: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # ticks <= it are done


class TickRow(Base):
    __tablename__ = "schedule_ticks"

    schedule_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tick_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # None: not looked at yet; then "none" (nothing to send), "sending", "sent", "failed"
    notify_state: Mapped[str | None] = mapped_column(String(20), index=True)
    notify_detail: Mapped[str | None] = mapped_column(Text)
    # the claim of submitting the run: its owner (a scheduler), when, how many claims so far
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claims: Mapped[int] = mapped_column(Integer, default=1)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # the claim of sending the failure notification (state "sending")
    notify_claimed_by: Mapped[str | None] = mapped_column(String(100))
    notify_claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notify_claims: Mapped[int] = mapped_column(Integer, default=0)


class SettingsRow(Base):
    __tablename__ = "runner_settings"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
