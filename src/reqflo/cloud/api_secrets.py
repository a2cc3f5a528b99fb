"""Secret routes (admin only): write-only values, versions, disable, destroy, audit.

Owns `/api/v1/secrets`: `PUT /{environment}/{name}` stores a new version (optionally
compare-and-set with `expected_version`); no answer of any route ever contains a value.
`GET` lists secrets (names, environments, versions, status), `GET .../versions` a
secret's versions, `POST .../disable` and `POST .../destroy` (wipes every version's
ciphertext), `GET /audit` the audit log (filters) and `GET /audit/verify` checks its
hash chain. Environment `*` holds workspace-wide secrets (the fallback of every
environment). Every call is recorded in the audit log with the caller's token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from reqflo.cloud.api_deps import Deps
from reqflo.cloud.api_models import NAME_PATTERN
from reqflo.cloud.auth import Admin, require
from reqflo.cloud.durable.keys import load_master_key
from reqflo.store import TokenRecord
from reqflo.store.secret_audit import AuditFilter
from reqflo.store.secret_models import AuditEntry, SecretRecord, SecretVersionRecord
from reqflo.store.secret_store import SecretConflict, SecretVault

ENV_PATTERN = r"^(\*|[A-Za-z0-9_.-]{1,100})$"
MAX_VALUE = 65_536
router = APIRouter(
    prefix="/api/v1/secrets", tags=["secrets"], dependencies=[Depends(require("admin"))]
)
EnvName = Annotated[str, Path(pattern=ENV_PATTERN, description="An environment, or * for all")]
SecretName = Annotated[str, Path(pattern=NAME_PATTERN, description="The secret's name")]


class SecretValueIn(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    value: str = Field(min_length=1, max_length=MAX_VALUE, repr=False)
    expected_version: int | None = Field(
        default=None, ge=0, description="Compare-and-set: the current version (0: new)"
    )


class SecretOut(BaseModel):
    environment: str
    name: str
    current_version: int
    status: str
    updated_at: datetime

    @classmethod
    def of(cls, record: SecretRecord) -> SecretOut:
        return cls(**vars(record))


class SecretVersionOut(BaseModel):
    version: int
    state: str
    created_at: datetime
    created_by: str
    key_id: str | None

    @classmethod
    def of(cls, record: SecretVersionRecord) -> SecretVersionOut:
        return cls(**vars(record))


class AuditOut(BaseModel):
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
    def of(cls, entry: AuditEntry) -> AuditOut:
        return cls(**vars(entry))


class AuditCheckOut(BaseModel):
    ok: bool
    entries: int
    head: str
    problem: str | None


def actor(token: TokenRecord) -> str:
    return f"token {token.id} ({token.name})"


def vault(deps: Deps) -> SecretVault:
    return SecretVault(deps.store, load_master_key(deps.data_dir))


@router.get("/audit", response_model=list[AuditOut])
def audit(
    deps: Deps,
    environment: str | None = None,
    name: str | None = None,
    action: str | None = None,
    run_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """The audit log, newest first: who set, disabled, destroyed or resolved what."""
    where = AuditFilter(environment, name, action, run_id, limit)
    return [AuditOut.of(e) for e in vault(deps).audit(where)]


@router.get("/audit/verify", response_model=AuditCheckOut)
def verify_audit(deps: Deps) -> AuditCheckOut:
    """Recompute the audit log's hash chain; `head` is the newest entry's hash."""
    check = vault(deps).verify_audit()
    return AuditCheckOut(ok=check.ok, entries=check.entries, head=check.head, problem=check.problem)


@router.get("", response_model=list[SecretOut])
def list_secrets(deps: Deps, environment: str | None = None) -> list[SecretOut]:
    """Secret names per environment with their current version (never values)."""
    return [SecretOut.of(r) for r in vault(deps).secrets(environment)]


PUT_ANSWERS: dict[int | str, dict[str, Any]] = {
    201: {"description": "Created"},
    409: {"description": "Version conflict"},
}


@router.put("/{environment}/{name}", response_model=SecretOut, responses=PUT_ANSWERS)
def put_secret(
    environment: EnvName,
    name: SecretName,
    body: SecretValueIn,
    response: Response,
    deps: Deps,
    token: Admin,
) -> SecretOut:
    """Store a new version of the secret (write-only: the value is never returned)."""
    try:
        record = vault(deps).put(environment, name, body.value, actor(token), body.expected_version)
    except SecretConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    response.status_code = 201 if record.current_version == 1 else 200
    return SecretOut.of(record)


@router.get("/{environment}/{name}/versions", response_model=list[SecretVersionOut])
def secret_versions(environment: EnvName, name: SecretName, deps: Deps) -> list[SecretVersionOut]:
    versions = vault(deps).versions(environment, name)
    if versions is None:
        raise _not_found(environment, name)
    return [SecretVersionOut.of(v) for v in versions]


@router.post("/{environment}/{name}/disable", response_model=SecretOut)
def disable_secret(environment: EnvName, name: SecretName, deps: Deps, token: Admin) -> SecretOut:
    """Runs stop resolving the secret until a new value is set."""
    record = vault(deps).disable(environment, name, actor(token))
    if record is None:
        raise _not_found(environment, name)
    return SecretOut.of(record)


@router.post("/{environment}/{name}/destroy", response_model=SecretOut)
def destroy_secret(environment: EnvName, name: SecretName, deps: Deps, token: Admin) -> SecretOut:
    """Wipe the ciphertext of every version (irreversible); the secret stays disabled."""
    record = vault(deps).destroy(environment, name, actor(token))
    if record is None:
        raise _not_found(environment, name)
    return SecretOut.of(record)


def _not_found(environment: str, name: str) -> HTTPException:
    return HTTPException(404, f"no secret '{name}' in environment '{environment}'")
