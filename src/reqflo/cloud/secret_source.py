"""Where cloud runs get secret values: the service's encrypted store, inside the executor.

Owns `CloudSecrets`, the runner's `SecretSource` for one run: it resolves a name in the
run's environment, then among workspace-wide secrets (`*`), in the secret vault
(reqflo.store.secret_store), records each resolution (secret, environment, VERSION, run
id) in the audit log, and remembers the answer for the rest of the run, so every
instance of the run uses the same version. A disabled or destroyed cloud secret
resolves to None (the instance fails with `missing-secret` before any request). Names
the vault does not know fall back to the executor's own `REQFLO_SECRET_<NAME>` variables
and `<data dir>/.reqflo/secrets.yaml` (LocalSecrets), kept for existing deployments.

Also owns `VaultOpener` (opens the vault lazily: the store by URL and the master key of
the data directory, see reqflo.cloud.durable.keys) and `cloud_secrets_for`, the factory
both executors take: `(environment, run_id) -> SecretSource`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from reqflo.cloud.durable.keys import load_master_key
from reqflo.runner.preflight import SecretSource
from reqflo.secrets.local import LocalSecrets
from reqflo.secrets.redact import PROCESS_REDACTOR
from reqflo.store import Store
from reqflo.store.secret_store import SecretVault

RunSecretsFor = Callable[[str | None, str], SecretSource]


class VaultOpener:
    """The secret vault, opened on first use (runs without secrets never touch it)."""

    def __init__(self, data_dir: Path, database_url: str | None = None,
                 store: Store | None = None) -> None:  # fmt: skip
        if store is None and database_url is None:
            raise ValueError("a VaultOpener needs a store or a database URL")
        self.data_dir, self.database_url = data_dir, database_url
        self._store, self._owned = store, store is None
        self._vault: SecretVault | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "VaultOpener()"

    def __call__(self) -> SecretVault:
        with self._lock:
            if self._vault is None:
                if self._store is None:
                    assert self.database_url is not None
                    self._store = Store.open(self.database_url)
                self._vault = SecretVault(self._store, load_master_key(self.data_dir))
            return self._vault

    def close(self) -> None:
        with self._lock:
            if self._owned and self._store is not None:
                self._store.close()
            self._store, self._vault = (None, None) if self._owned else (self._store, None)


class CloudSecrets:
    """One run's secrets: cloud store first, then the executor's local fallback."""

    def __init__(
        self,
        vault: Callable[[], SecretVault],
        environment: str | None,
        run_id: str,
        *,
        actor: str,
        fallback: SecretSource | None = None,
    ) -> None:
        self._vault, self.environment, self.run_id = vault, environment, run_id
        self._actor, self._fallback = actor, fallback
        self._cache: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show values
        return f"CloudSecrets(environment={self.environment!r}, run_id={self.run_id!r})"

    def resolve(self, name: str) -> str | None:
        with self._lock:
            if name not in self._cache:
                self._cache[name] = self._lookup(name)
            return self._cache[name]

    def _lookup(self, name: str) -> str | None:
        found = self._vault().resolve(self.environment, name, self._actor, self.run_id)
        if found.known:
            value = found.value
        else:
            value = self._fallback.resolve(name) if self._fallback is not None else None
        if value:
            PROCESS_REDACTOR.add(value)  # this process's logs mask it from now on
        return value


def cloud_secrets_for(opener: Callable[[], SecretVault], data_dir: Path,
                      actor: str) -> RunSecretsFor:  # fmt: skip
    """The executors' factory: a `CloudSecrets` per run, with the local fallback."""

    def secrets_for(environment: str | None, run_id: str) -> SecretSource:
        fallback = LocalSecrets(project_dir=data_dir, environment=environment)
        return CloudSecrets(opener, environment, run_id, actor=actor, fallback=fallback)

    return secrets_for


def local_secrets_for(data_dir: Path) -> RunSecretsFor:
    """Only the executor's `REQFLO_SECRET_*` variables and secrets file (no cloud store)."""

    def secrets_for(environment: str | None, run_id: str) -> SecretSource:
        return LocalSecrets(project_dir=data_dir, environment=environment)

    return secrets_for


__all__ = ["CloudSecrets", "RunSecretsFor", "VaultOpener", "cloud_secrets_for", "local_secrets_for"]
