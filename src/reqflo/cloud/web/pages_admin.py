"""Web UI pages: administration (tokens; secrets and runners are being built)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from reqflo.cloud.web.session import page, services_of
from reqflo.cloud.web.templating import render
from reqflo.store.session_store import WebSession

router = APIRouter(include_in_schema=False)
Admin = Annotated[WebSession, Depends(page("admin"))]


@router.get("/admin/tokens")
def tokens_page(request: Request, me: Admin) -> Response:
    tokens = services_of(request).store.tokens()
    return render(request, "admin/tokens.html", section="tokens", tokens=tokens)
