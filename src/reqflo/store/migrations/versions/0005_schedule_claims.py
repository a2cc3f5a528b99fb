"""Recoverable tick claims and webhook deliveries; sealed webhook secrets.

`schedule_ticks` gains the claim of its run's submission (`claimed_by`, `claimed_at`,
`claims`, `submitted_at`) and of its failure notification (`notify_claimed_by`,
`notify_claimed_at`, `notify_claims`), so another server takes over a claim whose owner
died. `schedules` gains the webhook secret sealed with envelope encryption
(`webhook_secret_ciphertext`, `_wrapped_key`, `_key_id`, `_version`); the plaintext
column stays for values written before this migration, which the server seals (and
clears) on start, since the master key is not available to migrations.

Ticks that existed before are marked submitted: their runs were handed to an executor.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
TICK_COLUMNS = ("claimed_by", "claimed_at", "claims", "submitted_at", "notify_claimed_by",
                "notify_claimed_at", "notify_claims")  # fmt: skip
SECRET_COLUMNS = ("webhook_secret_ciphertext", "webhook_secret_wrapped_key",
                  "webhook_secret_key_id", "webhook_secret_version")  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("schedule_ticks") as ticks:
        ticks.add_column(sa.Column("claimed_by", sa.String(100)))
        ticks.add_column(sa.Column("claimed_at", TZ))
        ticks.add_column(sa.Column("claims", sa.Integer, nullable=False, server_default="1"))
        ticks.add_column(sa.Column("submitted_at", TZ, index=True))  # polled every pass
        ticks.add_column(sa.Column("notify_claimed_by", sa.String(100)))
        ticks.add_column(sa.Column("notify_claimed_at", TZ))
        ticks.add_column(sa.Column("notify_claims", sa.Integer, nullable=False, server_default="0"))
    op.execute("UPDATE schedule_ticks SET claimed_at = created_at, submitted_at = created_at")
    with op.batch_alter_table("schedules") as schedules:
        schedules.add_column(sa.Column("webhook_secret_ciphertext", sa.LargeBinary))
        schedules.add_column(sa.Column("webhook_secret_wrapped_key", sa.LargeBinary))
        schedules.add_column(sa.Column("webhook_secret_key_id", sa.String(16)))
        schedules.add_column(sa.Column("webhook_secret_version", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("schedules") as schedules:
        for name in SECRET_COLUMNS:
            schedules.drop_column(name)
    with op.batch_alter_table("schedule_ticks") as ticks:
        ticks.drop_index("ix_schedule_ticks_submitted_at")
        for name in TICK_COLUMNS:
            ticks.drop_column(name)
