"""Schedules, their claimed ticks (exactly one run per tick) and the runner settings.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("cron", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(100), nullable=False),
        sa.Column("journey", sa.String(400)),
        sa.Column("artifact_id", sa.String(64)),
        sa.Column("environment", sa.String(200)),
        sa.Column("case", sa.String(200)),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("rows", sa.JSON),
        sa.Column("data_key", sa.String(200)),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("missed", sa.String(20), nullable=False),
        sa.Column("webhook_url", sa.Text),
        sa.Column("webhook_secret", sa.Text),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("cursor", TZ, nullable=False),
    )
    op.create_table(
        "schedule_ticks",
        sa.Column("schedule_id", sa.String(32), primary_key=True),
        sa.Column("tick_at", TZ, primary_key=True),
        sa.Column("run_id", sa.String(64), index=True),
        sa.Column("error", sa.Text),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("notify_state", sa.String(20), index=True),
        sa.Column("notify_detail", sa.Text),
    )
    op.create_table(
        "runner_settings",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("values", sa.JSON, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in ("runner_settings", "schedule_ticks", "schedules"):
        op.drop_table(table)
