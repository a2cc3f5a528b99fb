"""The Cloud Runner's HTTP API as a FastAPI application (OpenAPI at /openapi.json, /docs).

Owns `create_app`: the routers (reqflo.cloud.api_*), error handling and metrics. Bad
input always answers 4xx with a precise `detail` message: validation problems are
flattened to `location: message` lines (`body.concurrency: Input should be ...`),
a malformed JSON body names the position. An unexpected exception answers 500 with its
type only (details go to the server log). A write that succeeded (POST, PUT, PATCH,
DELETE answered below 400) is answered only once the store's commits are on disk
(reqflo.store.durability); a refused one (401, 404, 422...) changed nothing and costs no
sync.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from reqflo import __version__
from reqflo.cloud import (
    api_artifacts,
    api_environments,
    api_events,
    api_runs,
    api_schedules,
    api_settings,
    api_system,
    api_tokens,
)
from reqflo.cloud.api_deps import Services
from reqflo.cloud.api_secrets import router as secrets_router
from reqflo.cloud.web import mount as mount_web

log = logging.getLogger(__name__)
_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Reqflo Cloud Runner",
        version=__version__,
        description="Upload artifacts, run them, follow their progress, read results.",
    )
    app.state.services = services
    for module in (api_system, api_artifacts, api_runs, api_events, api_environments, api_tokens):
        app.include_router(module.router)
    for module in (api_schedules, api_settings):  # scheduled automation (issue 7)
        app.include_router(module.router)
    app.include_router(secrets_router)  # cloud-managed secrets (issue 5), admin only
    mount_web(app)  # the web UI (issue 6): pages, /static
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.middleware("http")(_count_requests)
    return app


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [_describe(error) for error in exc.errors()]
    return JSONResponse({"detail": "; ".join(problems), "problems": problems}, status_code=422)


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "json_invalid":
        ctx = error.get("ctx") or {}
        return f"the body is not valid JSON: {ctx.get('error', message)} ({location})"
    return f"{location}: {message}"


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": f"internal error ({type(exc).__name__})"}, status_code=500)


async def _count_requests(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    services = request.app.state.services
    assert isinstance(services, Services)
    if request.method not in _READ_ONLY and response.status_code < 400:
        await run_in_threadpool(services.store.make_durable)  # what it reports stays so
    services.metrics.request(request.method, response.status_code)
    return response
