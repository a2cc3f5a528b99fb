"""Live progress: a run's events as server-sent events (`GET /api/v1/runs/{id}/events`).

Each stored event is sent as `id: N`, `event: <kind>`, `data: <the event as JSON>`, in
order, from the start or after `Last-Event-ID` / `?after=N`. Events come from the store,
so the stream works whichever process executes the run. When the run is finished and
every event has been sent, a final `event: end` carries the run's status; a comment
line keeps idle connections open.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import StreamingResponse

from reqflo.cloud.api_deps import Deps, Services
from reqflo.cloud.api_models import MAX_ID
from reqflo.cloud.api_runs import existing_run
from reqflo.cloud.auth import require

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])
KEEPALIVE_SECONDS = 10.0


@router.get(
    "/{run_id}/events",
    dependencies=[Depends(require("viewer"))],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def run_events(
    run_id: str,
    deps: Deps,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="Send events after this id.")] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    existing_run(deps, run_id)
    start = _resume_id(last_event_id) if last_event_id else after
    return StreamingResponse(
        _stream(deps, run_id, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _resume_id(header: str) -> int:
    """The event id a reconnecting client saw last (`Last-Event-ID`)."""
    if header.isascii() and header.isdigit() and int(header) <= MAX_ID:
        return int(header)
    raise HTTPException(422, f"Last-Event-ID: not an event id: {header[:40]!r}")


async def _stream(deps: Services, run_id: str, after: int) -> AsyncIterator[str]:
    quiet_since = time.monotonic()
    while True:
        run = await asyncio.to_thread(deps.store.run, run_id)
        events = await asyncio.to_thread(deps.store.events_after, run_id, after)
        for event in events:
            after = event.id
            yield f"id: {event.id}\nevent: {event.kind}\ndata: {event.payload}\n\n"
        if events:
            quiet_since = time.monotonic()
            continue
        if run is None or run.terminal:
            status = run.status if run else "deleted"
            yield f"event: end\ndata: {json.dumps({'status': status})}\n\n"
            return
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(deps.poll_seconds)
