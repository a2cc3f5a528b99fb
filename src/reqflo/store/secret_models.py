"""Tables and records of cloud-managed secrets (created by migration 0002).

Owns `SecretRow` (one per environment + name: current version, disabled/destroyed
state), `SecretVersionRow` (one per version: the value's ciphertext and its wrapped data
key, see reqflo.secrets.envelope; both wiped on destroy) and `AuditRow` (the append-only,
hash-chained audit log, see reqflo.store.secret_audit), plus the frozen records the
secret repository returns. No table ever holds a value in clear, and no record a value.
`WORKSPACE` (`*`) is the environment of workspace-wide secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from reqflo.store.models import Base
from reqflo.store.records import utc

WORKSPACE = "*"
AUDIT_ACTIONS = ("set", "disable", "destroy", "resolve", "rotate-master-key")


class SecretRow(Base):
    __tablename__ = "secrets"

    environment: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    current_version: Mapped[int] = mapped_column(Integer)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    destroyed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SecretVersionRow(Base):
    __tablename__ = "secret_versions"

    environment: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))


class AuditRow(Base):
    __tablename__ = "secret_audit"
    __table_args__ = (  # each secret's last change (secret_audit.last_changes; 0007)
        Index("ix_secret_audit_changes", "action", "environment", "name", "seq"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))  # ISO 8601 UTC, hashed as written
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(40))
    environment: Mapped[str | None] = mapped_column(String(200))
    name: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int | None] = mapped_column(Integer)
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


@dataclass(frozen=True)
class SecretRecord:
    environment: str
    name: str
    current_version: int
    status: str  # active | disabled | destroyed
    updated_at: datetime

    @classmethod
    def of(cls, row: SecretRow) -> SecretRecord:
        status = "destroyed" if row.destroyed_at else "disabled" if row.disabled_at else "active"
        updated = utc(row.updated_at)
        assert updated is not None
        return cls(row.environment, row.name, row.current_version, status, updated)


@dataclass(frozen=True)
class SecretVersionRecord:
    version: int
    state: str  # current | previous | destroyed
    created_at: datetime
    created_by: str
    key_id: str | None


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    environment: str | None
    name: str | None
    version: int | None
    run_id: str | None
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, row: AuditRow) -> AuditEntry:
        return cls(row.seq, row.at, row.actor, row.action, row.environment, row.name,
                   row.version, row.run_id, row.prev_hash, row.hash)  # fmt: skip


@dataclass(frozen=True)
class Resolved:
    """What resolution found: the value (None when missing or disabled) and its version."""

    value: str | None
    environment: str | None = None
    version: int | None = None
    known: bool = False  # a cloud secret of that name exists (even if disabled)

    def __repr__(self) -> str:  # never show the value
        return f"Resolved(environment={self.environment!r}, version={self.version!r})"
