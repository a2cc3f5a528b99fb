"""API token routes (admin only): create (the token is returned once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException

from reqflo.cloud.api_deps import Deps
from reqflo.cloud.api_models import NewTokenOut, TokenOut, TokenRequest
from reqflo.cloud.auth import require

router = APIRouter(
    prefix="/api/v1/tokens", tags=["tokens"], dependencies=[Depends(require("admin"))]
)


@router.post("", status_code=201, response_model=NewTokenOut)
def create_token(body: TokenRequest, deps: Deps) -> NewTokenOut:
    record, token = deps.store.create_token(body.name, body.role)
    return NewTokenOut(**vars(TokenOut.of(record)), token=token)


@router.get("", response_model=list[TokenOut])
def list_tokens(deps: Deps) -> list[TokenOut]:
    return [TokenOut.of(r) for r in deps.store.tokens()]


@router.delete("/{token_id}", response_model=TokenOut)
def revoke_token(token_id: str, deps: Deps) -> TokenOut:
    record = deps.store.revoke_token(token_id)
    if record is None:
        raise HTTPException(404, f"no API token with id {token_id}")
    return TokenOut.of(record)
