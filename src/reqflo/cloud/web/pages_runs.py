"""Web UI pages: runs (list; detail, diff, rerun and cancel are being built)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from reqflo.cloud.web.session import page, services_of
from reqflo.cloud.web.templating import render
from reqflo.store import RunFilter
from reqflo.store.session_store import WebSession

router = APIRouter(include_in_schema=False)
Viewer = Annotated[WebSession, Depends(page("viewer"))]


@router.get("/runs")
def runs_page(request: Request, me: Viewer) -> Response:
    runs, total = services_of(request).store.runs(RunFilter(), 50, 0)
    return render(request, "runs/list.html", section="runs", runs=runs, total=total)
