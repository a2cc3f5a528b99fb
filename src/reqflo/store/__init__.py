"""The Cloud Runner's persistent state: artifacts, runs, instances, environments, tokens,
secrets (encrypted, audited) and schedules.

Modules:
- `models`    — typed SQLAlchemy 2 tables.
- `database`  — engine factory (SQLite with WAL by default, PostgreSQL by URL) and
                `migrate` (Alembic migrations shipped in `migrations/`, `upgrade head`).
- `records`   — frozen records the store returns.
- `store`     — `Store`: small repository methods; tokens kept as SHA-256 digests.
- `sink`      — `StoreSink`: the executor's `ResultSink`, idempotent writes.
- `secret_models`, `secret_store`, `secret_audit` — `SecretVault`: envelope-encrypted,
                versioned secrets and their hash-chained audit log.
- `schedule_models`, `schedule_records`, `schedule_store` — schedules, claimed ticks,
                runner settings, failure notifications.
"""

from reqflo.store.database import make_engine, migrate, sqlite_url
from reqflo.store.records import (
    ArtifactRecord,
    EnvironmentRecord,
    InstanceRecord,
    NewRun,
    RunRecord,
    StoredEvent,
    TokenRecord,
)
from reqflo.store.sink import StoreSink
from reqflo.store.store import RunFilter, Store, token_digest

__all__ = [
    "ArtifactRecord",
    "EnvironmentRecord",
    "InstanceRecord",
    "NewRun",
    "RunFilter",
    "RunRecord",
    "Store",
    "StoreSink",
    "StoredEvent",
    "TokenRecord",
    "make_engine",
    "migrate",
    "sqlite_url",
    "token_digest",
]
