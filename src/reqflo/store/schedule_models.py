"""Tables of scheduled automation: schedules, claimed ticks and the runner settings.

Owns `ScheduleRow` (cron + timezone + what to run + webhook), `TickRow` (one row per
fired tick; its primary key (schedule_id, tick_at) is what makes a tick fire exactly
once across servers, and it tracks the failure notification) and `SettingsRow` (the
runner settings as one JSON document). Migration 0003 creates exactly these tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, String, Text
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
    webhook_secret: Mapped[str | None] = mapped_column(Text)  # never returned by the API
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


class SettingsRow(Base):
    __tablename__ = "runner_settings"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
