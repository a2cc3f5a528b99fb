"""Health (no token needed), Prometheus metrics and the live workers (any valid token)."""

from __future__ import annotations

import time

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from reqflo import __version__
from reqflo.cloud.api_deps import Deps
from reqflo.cloud.api_models import Health
from reqflo.cloud.auth import require

router = APIRouter(tags=["system"])


@router.get("/api/v1/health", response_model=Health)
def health(deps: Deps) -> Health:
    return Health(status="ok", version=__version__, database=deps.store.engine.dialect.name)


class WorkerOut(BaseModel):
    executor_id: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    seconds_since_heartbeat: float


@router.get("/api/v1/workers", response_model=list[WorkerOut],
            dependencies=[Depends(require("viewer"))])  # fmt: skip
def workers(deps: Deps) -> list[WorkerOut]:
    """Durable workers that sent a heartbeat (none with the in-process executor)."""
    if not sa.inspect(deps.store.engine).has_table("reqflo_durable_workers"):
        return []
    table = sa.table("reqflo_durable_workers", *(sa.column(c) for c in WORKER_COLUMNS))
    with deps.store.engine.connect() as connection:
        rows = connection.execute(sa.select(table).order_by(table.c.executor_id)).mappings()
        now = time.time()
        return [WorkerOut(**row, seconds_since_heartbeat=now - row["heartbeat_at"]) for row in rows]


WORKER_COLUMNS = ("executor_id", "host", "pid", "started_at", "heartbeat_at")


@router.get("/metrics", response_class=PlainTextResponse,
            dependencies=[Depends(require("viewer"))])  # fmt: skip
def metrics(deps: Deps) -> PlainTextResponse:
    text = deps.metrics.render(deps.store.status_counts())
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
