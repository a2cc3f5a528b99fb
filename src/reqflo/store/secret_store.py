"""`SecretVault`: the repository of cloud-managed secrets (write-only values).

Owns every query on the secret tables (reqflo.store.secret_models). Values are sealed
with envelope encryption (reqflo.secrets.envelope) under the master key given to the
vault; each write, disable, destroy, resolution and master-key rotation appends an
audit entry (reqflo.store.secret_audit) in the same transaction. No method returns a
value except `resolve`, which the worker's secret source calls just before a request is
built. Writes may be compare-and-set (`expected_version`: the current version the
writer saw; 0 for "must not exist yet"). `destroy` wipes every version's ciphertext.
`rotate_master_key` re-wraps every data key in one transaction, or raises
`RotationRefused` naming each version (`UnwrapProblem`) the vault's key cannot unwrap.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reqflo.secrets.envelope import (
    EnvelopeError,
    Sealed,
    SecretIdentity,
    key_id,
    rewrap,
    seal,
    unseal,
)
from reqflo.store.records import now
from reqflo.store.secret_audit import (
    AuditCheck,
    AuditEvent,
    AuditFilter,
    append,
    entries,
    last_changes,
    verify,
)
from reqflo.store.secret_models import (
    WORKSPACE,
    AuditEntry,
    Resolved,
    SecretRecord,
    SecretRow,
    SecretVersionRecord,
    SecretVersionRow,
)
from reqflo.store.store import Store

T = TypeVar("T")
ATTEMPTS = 8


class SecretConflict(Exception):
    """A compare-and-set write saw another current version."""


@dataclass(frozen=True)
class UnwrapProblem:
    """A version whose data key the vault's master key cannot unwrap (never its value)."""

    environment: str
    name: str
    version: int
    key_id: str | None  # the fingerprint stored with it: which master key wrapped it

    def __str__(self) -> str:
        wrapped_by = f"wrapped by key {self.key_id}" if self.key_id else "no key id"
        return f"secret '{self.name}' v{self.version} in '{self.environment}' ({wrapped_by})"


class RotationRefused(Exception):
    """A master-key rotation found versions it cannot unwrap; it re-wrapped nothing."""

    def __init__(self, current_key_id: str, problems: tuple[UnwrapProblem, ...]) -> None:
        self.current_key_id, self.problems = current_key_id, problems
        names = ", ".join(str(p) for p in problems[:5])
        more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        super().__init__(
            f"{len(problems)} secret version(s) cannot be unwrapped by the current master key "
            f"(key {current_key_id}): {names}{more}"
        )


class SecretVault:
    def __init__(self, store: Store, master_key: bytes) -> None:
        self.store = store
        self._key = master_key

    def __repr__(self) -> str:  # never show the key
        return "SecretVault()"

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self.store.session() as session:
            yield session

    def _retrying(self, work: Callable[[Session], T]) -> T:
        """Run `work` in a transaction, again when a concurrent writer took its slot.

        Retries wait a random, growing pause (≤ 2 ms, 4 ms, … 0.2 s): writers retrying at
        once collided again and again under load (SQLite, four writers, busy machine)."""
        for attempt in range(ATTEMPTS):
            try:
                with self._session() as session:
                    return work(session)
            except IntegrityError:
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ admin writes

    def put(self, environment: str, name: str, value: str, actor: str,
            expected_version: int | None = None) -> SecretRecord:  # fmt: skip
        """Store `value` as the secret's new current version (and enable it)."""

        def work(session: Session) -> SecretRecord:
            row = session.get(SecretRow, (environment, name))
            current = row.current_version if row else 0
            if expected_version is not None and expected_version != current:
                raise SecretConflict(
                    f"secret '{name}' in '{environment}' is at version {current}, "
                    f"not {expected_version}"
                )
            version = current + 1
            sealed = seal(self._key, SecretIdentity(environment, name, version), value)
            session.add(SecretVersionRow(
                environment=environment, name=name, version=version,
                ciphertext=sealed.ciphertext, wrapped_key=sealed.wrapped_key,
                key_id=sealed.key_id, created_at=now(), created_by=actor,
            ))  # fmt: skip
            if row is None:
                row = SecretRow(environment=environment, name=name)
                session.add(row)
            row.current_version, row.updated_at = version, now()
            row.disabled_at = row.destroyed_at = None
            session.flush()
            append(session, AuditEvent(actor, "set", environment, name, version))
            return SecretRecord.of(row)

        return self._retrying(work)

    def disable(self, environment: str, name: str, actor: str) -> SecretRecord | None:
        """Runs stop resolving the secret (until a new value is set)."""
        return self._retrying(lambda s: self._mark(s, environment, name, actor, "disable"))

    def destroy(self, environment: str, name: str, actor: str) -> SecretRecord | None:
        """Wipe every version's ciphertext and wrapped key; the secret stays disabled.

        On SQLite the old bytes are zeroed in the file (`secure_delete`) and the WAL is
        checkpointed so no copy of them stays there either (PostgreSQL keeps dead row
        versions until VACUUM)."""
        record = self._retrying(lambda s: self._mark(s, environment, name, actor, "destroy"))
        if record is not None and self.store.engine.dialect.name == "sqlite":
            with self.store.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return record

    def _mark(self, session: Session, environment: str, name: str, actor: str,
              action: str) -> SecretRecord | None:  # fmt: skip
        row = session.get(SecretRow, (environment, name))
        if row is None:
            return None
        row.disabled_at = row.disabled_at or now()
        if action == "destroy":
            if session.get_bind().dialect.name == "sqlite":
                session.execute(text("PRAGMA secure_delete = ON"))
            row.destroyed_at = row.destroyed_at or now()
            for version in self._version_rows(session, environment, name):
                version.ciphertext = version.wrapped_key = version.key_id = None
        row.updated_at = now()
        append(session, AuditEvent(actor, action, environment, name, row.current_version))
        return SecretRecord.of(row)

    # ------------------------------------------------------------ admin reads

    def secrets(self, environment: str | None = None) -> list[SecretRecord]:
        with self._session() as session:
            query = select(SecretRow).order_by(SecretRow.environment, SecretRow.name)
            if environment is not None:
                query = query.where(SecretRow.environment == environment)
            return [SecretRecord.of(row) for row in session.scalars(query)]

    def versions(self, environment: str, name: str) -> list[SecretVersionRecord] | None:
        with self._session() as session:
            row = session.get(SecretRow, (environment, name))
            if row is None:
                return None
            return [
                SecretVersionRecord(
                    version=v.version,
                    state=_state(v, row.current_version),
                    created_at=v.created_at,
                    created_by=v.created_by,
                    key_id=v.key_id,
                )
                for v in reversed(self._version_rows(session, environment, name))
            ]

    def audit(self, where: AuditFilter | None = None) -> list[AuditEntry]:
        with self._session() as session:
            return entries(session, where or AuditFilter())

    def last_changes(self, environment: str | None = None) -> dict[tuple[str, str], AuditEntry]:
        """Each secret's newest set/disable/destroy entry, by (environment, name)."""
        with self._session() as session:
            return last_changes(session, environment)

    def verify_audit(self) -> AuditCheck:
        with self._session() as session:
            return verify(session)

    # ------------------------------------------------------------ resolution

    def resolve(self, environment: str | None, name: str, actor: str,
                run_id: str | None = None) -> Resolved:  # fmt: skip
        """The secret of the run's environment, else the workspace-wide one (`*`)."""
        scopes = (
            [environment, WORKSPACE] if environment and environment != WORKSPACE else [WORKSPACE]
        )

        def work(session: Session) -> Resolved:
            for scope in scopes:
                row = session.get(SecretRow, (scope, name))
                if row is None:
                    continue
                if row.disabled_at is not None:
                    return Resolved(None, scope, row.current_version, known=True)
                value = self._open(session, scope, name, row.current_version)
                append(session, AuditEvent(actor, "resolve", scope, name, row.current_version,
                                           run_id))  # fmt: skip
                return Resolved(value, scope, row.current_version, known=True)
            return Resolved(None)

        return self._retrying(work)

    def _open(self, session: Session, environment: str, name: str, version: int) -> str:
        row = session.get(SecretVersionRow, (environment, name, version))
        if row is None or row.ciphertext is None or row.wrapped_key is None:
            raise LookupError(f"secret '{name}' in '{environment}' has no version {version}")
        sealed = Sealed(row.ciphertext, row.wrapped_key, row.key_id or "")
        return unseal(self._key, SecretIdentity(environment, name, version), sealed)

    # ------------------------------------------------------------ master key

    def rotate_master_key(self, new_key: bytes, actor: str) -> int:
        """Re-wrap every data key with `new_key` (values untouched); how many were re-wrapped.

        One transaction: if the vault's key cannot unwrap some version (sealed under another
        master key, or tampered), `RotationRefused` names them all and nothing is re-wrapped.
        Versions already wrapped by `new_key` are skipped, so an interrupted rotation can be
        run again. The vault keeps using its old key: open a new vault with `new_key`."""
        new_id = key_id(new_key)

        def work(session: Session) -> int:
            rewrapped, problems = self._rewrapped(session, new_key)
            if problems:
                raise RotationRefused(key_id(self._key), problems)
            for row, wrapped_key in rewrapped:
                row.wrapped_key, row.key_id = wrapped_key, new_id
            append(session, AuditEvent(actor, "rotate-master-key", version=len(rewrapped)))
            return len(rewrapped)

        return self._retrying(work)

    def rotation_problems(self, new_key: bytes) -> tuple[UnwrapProblem, ...]:
        """The versions a rotation to `new_key` would refuse (a read-only check)."""
        with self._session() as session:
            return self._rewrapped(session, new_key)[1]

    def _rewrapped(
        self, session: Session, new_key: bytes
    ) -> tuple[list[tuple[SecretVersionRow, bytes]], tuple[UnwrapProblem, ...]]:
        """Each version not yet wrapped by `new_key` with its data key so wrapped (nothing is
        written), and the versions whose data key the vault's key cannot unwrap."""
        new_id, rewrapped, problems = key_id(new_key), [], []
        query = select(SecretVersionRow).order_by(
            SecretVersionRow.environment, SecretVersionRow.name, SecretVersionRow.version
        )
        for row in session.scalars(query):
            if row.wrapped_key is None or row.key_id == new_id:
                continue
            identity = SecretIdentity(row.environment, row.name, row.version)
            try:
                rewrapped.append((row, rewrap(self._key, new_key, identity, row.wrapped_key)))
            except EnvelopeError:
                problems.append(UnwrapProblem(row.environment, row.name, row.version, row.key_id))
        return rewrapped, tuple(problems)

    @staticmethod
    def _version_rows(session: Session, environment: str, name: str) -> list[SecretVersionRow]:
        query = select(SecretVersionRow).where(
            SecretVersionRow.environment == environment, SecretVersionRow.name == name
        )
        return list(session.scalars(query.order_by(SecretVersionRow.version)))


def _state(row: SecretVersionRow, current: int) -> str:
    if row.ciphertext is None:
        return "destroyed"
    return "current" if row.version == current else "previous"


__all__ = ["RotationRefused", "SecretConflict", "SecretVault", "UnwrapProblem"]
