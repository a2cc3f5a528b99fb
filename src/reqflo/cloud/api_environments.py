"""Environment routes: the values cloud runs read as `env.*`, kept in the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Response

from reqflo.cloud.api_deps import Deps
from reqflo.cloud.api_models import NAME_PATTERN, EnvironmentOut, EnvironmentRequest
from reqflo.cloud.auth import require

router = APIRouter(prefix="/api/v1/environments", tags=["environments"])
EnvName = Annotated[str, Path(pattern=NAME_PATTERN, description="Letters, digits, '_', '.', '-'")]


@router.put("/{name}", response_model=EnvironmentOut, status_code=200,
            dependencies=[Depends(require("editor"))],
            responses={201: {"description": "Created"}})  # fmt: skip
def put_environment(
    name: EnvName,
    body: EnvironmentRequest,
    response: Response,
    deps: Deps,
) -> EnvironmentOut:
    """Create or replace an environment's values (never secrets)."""
    existed = deps.store.environment(name) is not None
    record = deps.store.put_environment(name, body.values)
    response.status_code = 200 if existed else 201
    return EnvironmentOut.of(record)


@router.get("/{name}", response_model=EnvironmentOut, dependencies=[Depends(require("viewer"))])
def get_environment(name: EnvName, deps: Deps) -> EnvironmentOut:
    record = deps.store.environment(name)
    if record is None:
        raise HTTPException(404, f"environment '{name}' does not exist")
    return EnvironmentOut.of(record)


@router.get("", response_model=list[EnvironmentOut], dependencies=[Depends(require("viewer"))])
def list_environments(deps: Deps) -> list[EnvironmentOut]:
    return [EnvironmentOut.of(r) for r in deps.store.environments()]
