"""The index on `schedule_ticks.submitted_at`, for databases stamped 0005 without it.

Migration 0005 gained that index (the scheduler polls unsubmitted ticks every pass) after
it was first written, so a database upgraded to 0005 by an earlier checkout is stamped
0005 but lacks it. This migration creates the index when it is missing and does nothing
when 0005 already made it (SQLite and PostgreSQL alike: the inspector reads the names).

Downgrade does nothing: the index belongs to 0005, whose downgrade drops it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLE, COLUMN = "schedule_ticks", "submitted_at"
INDEX = f"ix_{TABLE}_{COLUMN}"


def upgrade() -> None:
    present = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(TABLE)}
    if INDEX not in present:
        op.create_index(INDEX, TABLE, [COLUMN])


def downgrade() -> None:
    """Nothing to undo: 0005 owns the index (and drops it on its own downgrade)."""
