"""An index on the secrets audit log's changes, for each secret's last change.

The secrets list asks for the newest set/disable/destroy entry of every secret
(reqflo.store.secret_audit.last_changes: max(seq) per environment and name among those
actions). Resolutions, one per secret a run uses, make up most of the log; with
(action, environment, name, seq) that query reads only the changes' index entries
instead of the whole table.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

INDEX = "ix_secret_audit_changes"


def upgrade() -> None:
    op.create_index(INDEX, "secret_audit", ["action", "environment", "name", "seq"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="secret_audit")
