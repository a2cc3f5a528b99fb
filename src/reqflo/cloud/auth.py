"""Bearer-token access control for the Cloud Runner API.

Owns role checks: every route except health declares the least role it needs with
`Depends(require("viewer" | "editor" | "admin"))`. Roles are ordered viewer < editor <
admin (admin: tokens; editor: artifacts, runs, environments; viewer: read). A missing,
malformed, unknown or revoked token gets 401 with `WWW-Authenticate: Bearer`; a valid
token below the needed role gets 403 naming both roles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reqflo.cloud.api_deps import Services, services
from reqflo.store import TokenRecord

RANK = {"viewer": 0, "editor": 1, "admin": 2}
bearer = HTTPBearer(auto_error=False, description="An API token: `reqflo token create`")


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def require(role: str) -> Callable[..., TokenRecord]:
    """A dependency admitting tokens with at least `role`; returns the caller's token."""
    needed = RANK[role]

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        deps: Annotated[Services, Depends(services)],
    ) -> TokenRecord:
        if credentials is None:
            raise _unauthorized("this call needs an API token: 'Authorization: Bearer <token>'")
        token = deps.store.token_for(credentials.credentials)
        if token is None:
            raise _unauthorized("the API token is unknown or revoked")
        if RANK.get(token.role, -1) < needed:
            raise HTTPException(
                403, f"this call needs the {role} role; token '{token.name}' has {token.role}"
            )
        request.state.token = token
        return token

    return dependency


Viewer = Annotated[TokenRecord, Depends(require("viewer"))]
Editor = Annotated[TokenRecord, Depends(require("editor"))]
Admin = Annotated[TokenRecord, Depends(require("admin"))]

__all__ = ["RANK", "Admin", "Editor", "Viewer", "bearer", "require"]
