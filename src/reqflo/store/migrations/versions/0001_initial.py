"""Initial Cloud Runner schema: artifacts, runs, instances, run events, environments, tokens.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("journey", sa.String(400), nullable=False, index=True),
        sa.Column("version", sa.String(100)),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    _runs()
    op.create_table(
        "instances",
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("index", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
    )
    op.create_table(
        "run_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False, index=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_table(
        "environments",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("values", sa.JSON, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ),
    )


def _runs() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("artifact_id", sa.String(64), sa.ForeignKey("artifacts.id"), nullable=False),
        sa.Column("journey", sa.String(400), nullable=False, index=True),
        sa.Column("environment", sa.String(200), index=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("rerun_of", sa.String(64)),
        sa.Column("case", sa.String(200)),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("rows", sa.JSON),
        sa.Column("data_key", sa.String(200)),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("passed", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("errored", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", TZ, nullable=False, index=True),
        sa.Column("started_at", TZ),
        sa.Column("finished_at", TZ),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("requested_by", "idempotency_key", name="uq_runs_idem"),
    )
    op.create_index("ix_runs_artifact_id", "runs", ["artifact_id"])


def downgrade() -> None:
    for table in ("api_tokens", "environments", "run_events", "instances", "runs", "artifacts"):
        op.drop_table(table)
