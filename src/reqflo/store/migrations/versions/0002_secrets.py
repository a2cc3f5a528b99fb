"""Cloud-managed secrets: secrets, their encrypted versions, and the hash-chained audit log.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("environment", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("disabled_at", TZ),
        sa.Column("destroyed_at", TZ),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "secret_versions",
        sa.Column("environment", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("ciphertext", sa.LargeBinary),
        sa.Column("wrapped_key", sa.LargeBinary),
        sa.Column("key_id", sa.String(32)),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "secret_audit",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(300), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("environment", sa.String(200)),
        sa.Column("name", sa.String(200)),
        sa.Column("version", sa.Integer),
        sa.Column("run_id", sa.String(64), index=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )


def downgrade() -> None:
    for table in ("secret_audit", "secret_versions", "secrets"):
        op.drop_table(table)
