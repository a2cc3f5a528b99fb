"""Web UI pages: Admin → Tokens (admin only, like the API's /api/v1/tokens).

Owns /admin/tokens: the list; create, whose result page shows the new token once and is
never cached or redirected to; revoke (revoking your own token ends your session).
"""

from __future__ import annotations

from typing import get_args

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from reqflo.cloud.api_models import Role
from reqflo.cloud.web.session import (
    Admin,
    AdminForm,
    PageNotFound,
    done,
    services_of,
)
from reqflo.cloud.web.templating import render
from reqflo.store.session_store import WebSession

router = APIRouter(include_in_schema=False)
ROLES: tuple[str, ...] = get_args(Role)
MAX_TOKEN_NAME = 200


@router.get("/admin/tokens")
def tokens_page(request: Request, me: Admin) -> Response:
    return tokens_form(request, me)


def tokens_form(
    request: Request,
    me: WebSession,
    *,
    error: str = "",
    name: str = "",
    role: str = "viewer",
    status_code: int = 200,
) -> Response:
    tokens = sorted(
        services_of(request).store.tokens(), key=lambda t: (t.revoked_at is not None, t.name)
    )
    return render(
        request, "admin/tokens.html", status_code, section="tokens", tokens=tokens,
        roles=ROLES, error=error, name=name, role=role, me_id=me.token.id,
    )  # fmt: skip


@router.post("/admin/tokens")
def create_token(request: Request, posted: AdminForm) -> Response:
    name, role = posted.text("name").strip(), posted.text("role")
    error = token_problem(name, role)
    if error:
        return tokens_form(
            request, posted.session, error=error, name=name, role=role, status_code=422
        )
    record, token = services_of(request).store.create_token(name, role)
    # Rendered, not redirected to: the token must never be in a URL or a cached page.
    return render(
        request, "admin/token_created.html", 201, section="tokens", record=record, token=token
    )


def token_problem(name: str, role: str) -> str:
    if not name:
        return "Give the token a name (who or what will use it)."
    if len(name) > MAX_TOKEN_NAME:
        return f"The name is {len(name)} characters long: at most {MAX_TOKEN_NAME}."
    if role not in ROLES:
        return f"Pick a role: {', '.join(ROLES)}."
    return ""


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, posted: AdminForm) -> Response:
    record = services_of(request).store.revoke_token(token_id)
    if record is None:
        raise PageNotFound(f"API token '{token_id}' does not exist")
    if record.id == posted.session.token.id:
        return RedirectResponse("/login", status_code=303)  # this session just ended
    message = f"Revoked token '{record.name}': its sessions have ended."
    return done("/admin/tokens", message, posted.session)
