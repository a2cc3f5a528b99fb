"""The secrets audit log: append-only and hash-chained.

Owns `append` (adds one entry inside the caller's transaction: sequence number = last
+ 1, `prev_hash` = the last entry's hash, `hash` = SHA-256 over `prev_hash` and the
entry's canonical JSON), `entries` (the admin query, newest first, with filters),
`last_changes` (each secret's newest set/disable/destroy entry, in one query) and
`verify` (recomputes the chain: an edited, removed or reordered entry breaks it; the
returned head hash lets an operator notice a truncated tail by comparing with a head
noted earlier). Entries record who did what to which secret version, never a value.
On PostgreSQL appends take a transaction-level advisory lock, so concurrent writers queue
instead of colliding; on SQLite writes are serialised anyway. A collision that still
happens fails on the sequence number's primary key and the writer retries its transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from reqflo.store.secret_models import AUDIT_ACTIONS, AuditEntry, AuditRow

GENESIS = "0" * 64
CHANGES = ("set", "disable", "destroy")  # what changes a secret (a resolution does not)
AUDIT_LOCK = 0x5265_7166_6C61  # PostgreSQL advisory lock key of the audit chain
VERIFY_BATCH = 2000
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)  # as json.dumps
HASHED = (AuditRow.seq, AuditRow.at, AuditRow.actor, AuditRow.action, AuditRow.environment,
          AuditRow.name, AuditRow.version, AuditRow.run_id)  # fmt: skip


@dataclass(frozen=True)
class AuditEvent:
    actor: str
    action: str
    environment: str | None = None
    name: str | None = None
    version: int | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class AuditFilter:
    environment: str | None = None
    name: str | None = None
    action: str | None = None
    run_id: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class AuditCheck:
    ok: bool
    entries: int
    head: str  # hash of the newest entry (GENESIS when empty)
    problem: str | None = None


def entry_hash(prev_hash: str, seq: int, at: str, event: AuditEvent) -> str:
    fields = [seq, at, event.actor, event.action, event.environment, event.name,
              event.version, event.run_id]  # fmt: skip
    return _chained(prev_hash, fields)


def _chained(prev_hash: str, fields: list[object]) -> str:
    """SHA-256 over the previous hash and the entry's canonical JSON (written once, never
    change: every stored hash depends on these exact bytes)."""
    return hashlib.sha256(f"{prev_hash}\n{_CANONICAL.encode(fields)}".encode()).hexdigest()


def append(session: Session, event: AuditEvent) -> AuditEntry:
    if event.action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action '{event.action}'")
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})
    last = session.scalar(select(AuditRow).order_by(AuditRow.seq.desc()).limit(1))
    seq = last.seq + 1 if last else 1
    prev = last.hash if last else GENESIS
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    row = AuditRow(seq=seq, at=at, actor=event.actor, action=event.action,
                   environment=event.environment, name=event.name, version=event.version,
                   run_id=event.run_id, prev_hash=prev,
                   hash=entry_hash(prev, seq, at, event))  # fmt: skip
    session.add(row)
    session.flush()
    return AuditEntry.of(row)


def entries(session: Session, where: AuditFilter) -> list[AuditEntry]:
    query = select(AuditRow).order_by(AuditRow.seq.desc()).limit(where.limit)
    wanted_by_column = (
        (AuditRow.environment, where.environment),
        (AuditRow.name, where.name),
        (AuditRow.action, where.action),
        (AuditRow.run_id, where.run_id),
    )
    for column, wanted in wanted_by_column:
        if wanted is not None:
            query = query.where(column == wanted)
    return [AuditEntry.of(row) for row in session.scalars(query)]


def last_changes(
    session: Session, environment: str | None = None
) -> dict[tuple[str, str], AuditEntry]:
    """The newest change entry of each secret (of `environment` only, if given), keyed by
    (environment, name): one query, the highest sequence number per secret among its
    changes joined back to its entry, whatever the length of the log."""
    newest = (
        select(func.max(AuditRow.seq))
        .where(AuditRow.action.in_(CHANGES))
        .group_by(AuditRow.environment, AuditRow.name)
    )
    if environment is not None:
        newest = newest.where(AuditRow.environment == environment)
    found: dict[tuple[str, str], AuditEntry] = {}
    for row in session.scalars(select(AuditRow).where(AuditRow.seq.in_(newest))):
        if row.environment is not None and row.name is not None:
            found[(row.environment, row.name)] = AuditEntry.of(row)
    return found


def verify(session: Session) -> AuditCheck:
    """Recompute the chain in one streaming pass in sequence order: plain column tuples in
    batches (no ORM objects, memory does not grow with the log), each entry's hash from its
    fields and the previous entry's hash."""
    rows = session.execute(
        select(*HASHED, AuditRow.prev_hash, AuditRow.hash).order_by(AuditRow.seq),
        execution_options={"yield_per": VERIFY_BATCH},
    )
    try:
        return _walk(rows)
    finally:
        rows.close()  # a break ends the walk early: close PostgreSQL's server-side cursor


def _walk(rows: Iterable[Sequence[Any]]) -> AuditCheck:
    prev, count = GENESIS, 0
    for row in rows:
        *fields, prev_hash, stored = row
        seq, count = fields[0], count + 1
        if seq != count:
            return AuditCheck(False, count, prev, f"entry {count} is missing (found {seq})")
        if prev_hash != prev:
            problem = f"entry {seq} does not follow its predecessor"
            return AuditCheck(False, count, prev, problem)
        if stored != _chained(prev, fields):
            return AuditCheck(False, count, prev, f"entry {seq} was altered")
        prev = stored
    return AuditCheck(True, count, prev)
