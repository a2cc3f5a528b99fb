"""Webhook signing secrets of schedules, sealed at rest with the secret envelope.

Owns `seal_into` (encrypt a schedule's webhook secret into its row: a fresh data key,
wrapped by the server's master key, reqflo.secrets.envelope), `open_from` (the value,
for the scheduler that signs a delivery) and `seal_plaintext` (seals secrets stored in
clear by servers before migration 0005, then clears them) and `rewrap_all` (master-key
rotation: each data key re-wrapped, values untouched). The identity bound as
associated data is (`#schedule-webhook`, schedule id, version): a ciphertext copied to
another schedule, or an older version copied back, does not decrypt. No function logs
or returns a value except `open_from`.
"""

from __future__ import annotations

from sqlalchemy import select

from reqflo.secrets.envelope import Sealed, SecretIdentity, key_id, rewrap, seal, unseal
from reqflo.store.schedule_models import ScheduleRow
from reqflo.store.store import Store

SCOPE = "#schedule-webhook"  # not a valid environment name: never collides with the vault


class MasterKeyNeeded(RuntimeError):
    """A webhook secret is written or read by a store opened without the master key."""


def _require(master_key: bytes | None) -> bytes:
    if master_key is None:
        raise MasterKeyNeeded("the server's master key is needed to seal or open webhook secrets")
    return master_key


def seal_into(row: ScheduleRow, value: str | None, master_key: bytes | None) -> None:
    """Set (or, with None, clear) the row's webhook secret."""
    row.webhook_secret = None
    if value is None:
        row.webhook_secret_ciphertext = row.webhook_secret_wrapped_key = None
        row.webhook_secret_key_id = None
        return
    version = (row.webhook_secret_version or 0) + 1
    sealed = seal(_require(master_key), SecretIdentity(SCOPE, row.id, version), value)
    row.webhook_secret_ciphertext, row.webhook_secret_wrapped_key = (
        sealed.ciphertext,
        sealed.wrapped_key,
    )
    row.webhook_secret_key_id, row.webhook_secret_version = sealed.key_id, version


def open_from(row: ScheduleRow, master_key: bytes | None) -> str | None:
    """The webhook secret (None: none set); raises EnvelopeError when it cannot be opened."""
    if row.webhook_secret_ciphertext is None or row.webhook_secret_wrapped_key is None:
        return row.webhook_secret or None  # written before 0005, not sealed yet
    sealed = Sealed(
        row.webhook_secret_ciphertext,
        row.webhook_secret_wrapped_key,
        row.webhook_secret_key_id or "",
    )
    identity = SecretIdentity(SCOPE, row.id, row.webhook_secret_version or 1)
    return unseal(_require(master_key), identity, sealed)


def seal_plaintext(store: Store, master_key: bytes) -> int:
    """Seal every webhook secret still stored in clear; how many."""
    with store.session() as session:
        rows = list(
            session.scalars(select(ScheduleRow).where(ScheduleRow.webhook_secret.is_not(None)))
        )
        for row in rows:
            seal_into(row, row.webhook_secret, master_key)
        return len(rows)


def rewrap_all(store: Store, old_key: bytes, new_key: bytes) -> int:
    """Master-key rotation: re-wrap every webhook secret's data key with `new_key` (the
    value is untouched, reqflo.secrets.envelope.rewrap); how many (those already wrapped
    by `new_key` are skipped, so an interrupted rotation can run again)."""
    done = key_id(new_key)
    with store.session() as session:
        rows = list(session.scalars(
            select(ScheduleRow).where(ScheduleRow.webhook_secret_wrapped_key.is_not(None))
        ))  # fmt: skip
        count = 0
        for row in rows:
            if row.webhook_secret_wrapped_key is None or row.webhook_secret_key_id == done:
                continue
            identity = SecretIdentity(SCOPE, row.id, row.webhook_secret_version or 1)
            row.webhook_secret_wrapped_key = rewrap(
                old_key, new_key, identity, row.webhook_secret_wrapped_key
            )
            row.webhook_secret_key_id, count = done, count + 1
        return count


__all__ = ["MasterKeyNeeded", "open_from", "rewrap_all", "seal_into",
           "seal_plaintext"]  # fmt: skip
