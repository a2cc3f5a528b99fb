"""Health (no token needed) and Prometheus metrics (any valid token)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from reqflo import __version__
from reqflo.cloud.api_deps import Deps
from reqflo.cloud.api_models import Health
from reqflo.cloud.auth import require

router = APIRouter(tags=["system"])


@router.get("/api/v1/health", response_model=Health)
def health(deps: Deps) -> Health:
    return Health(status="ok", version=__version__, database=deps.store.engine.dialect.name)


@router.get("/metrics", response_class=PlainTextResponse,
            dependencies=[Depends(require("viewer"))])  # fmt: skip
def metrics(deps: Deps) -> PlainTextResponse:
    text = deps.metrics.render(deps.store.status_counts())
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
