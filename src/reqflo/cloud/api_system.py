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
from reqflo.cloud.durable.liveness import workers_table
from reqflo.store import Store

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
    heartbeat_interval_s: float | None = None  # None: not recorded (an older worker)


@router.get("/api/v1/workers", response_model=list[WorkerOut],
            dependencies=[Depends(require("viewer"))])  # fmt: skip
def workers(deps: Deps) -> list[WorkerOut]:
    """Durable workers that sent a heartbeat (none with the in-process executor)."""
    if not sa.inspect(deps.store.engine).has_table("reqflo_durable_workers"):
        return []
    table = sa.table("reqflo_durable_workers", *(sa.column(c) for c in WORKER_COLUMNS))
    with deps.store.engine.connect() as connection:
        rows = connection.execute(sa.select(table).order_by(table.c.executor_id)).mappings()
        now, intervals = time.time(), beat_intervals(deps.store)
        return [WorkerOut(**row, seconds_since_heartbeat=now - row["heartbeat_at"],
                          heartbeat_interval_s=intervals.get(row["executor_id"]))
                for row in rows]  # fmt: skip


def beat_intervals(store: Store) -> dict[str, float]:
    """The heartbeat interval each durable worker records (none from an older worker, nor
    before a worker of this version has added the column)."""
    try:
        found = sa.inspect(store.engine)
        if "heartbeat_interval_s" not in {c["name"] for c in found.get_columns(workers_table.name)}:
            return {}
        column = workers_table.c.heartbeat_interval_s
        query = sa.select(workers_table.c.executor_id, column).where(column.is_not(None))
        with store.engine.connect() as connection:
            return {str(e): float(every) for e, every in connection.execute(query)}
    except sa.exc.SQLAlchemyError:
        return {}


WORKER_COLUMNS = ("executor_id", "host", "pid", "started_at", "heartbeat_at")


@router.get("/metrics", response_class=PlainTextResponse,
            dependencies=[Depends(require("viewer"))])  # fmt: skip
def metrics(deps: Deps) -> PlainTextResponse:
    text = deps.metrics.render(deps.store.status_counts())
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
