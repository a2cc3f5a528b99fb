"""The demo target API as an aiohttp application, and ways to run it.

Owns `create_app()` (routes of `orders`, `tools` and `graphql` plus the middleware that
counts requests for `/stats` and turns every error into JSON), `start_demo()` (serve it
in-process on 127.0.0.1 for tests and for `reqflo`'s README command) and `demo_server()`
(the same as an async context manager). Each app has its own in-memory `DemoState`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

from aiohttp import web

from reqflo.demo import graphql, orders, tools
from reqflo.demo.common import STATE, state_of
from reqflo.demo.state import DEMO_USERS, DemoState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNCOUNTED_PREFIX = "/stats"


@web.middleware
async def count_and_jsonify_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count the request for /stats; answer errors raised without a JSON body as JSON."""
    if not request.path.startswith(UNCOUNTED_PREFIX):
        state_of(request).count_request(request.method, request.path)
    try:
        return await handler(request)
    except web.HTTPError as exc:
        if exc.content_type == "application/json":
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.json_response({"error": exc.reason}, status=exc.status, headers=headers)


async def index(request: web.Request) -> web.Response:
    routes = sorted(
        {
            f"{route.method} {route.resource.canonical}"
            for route in request.app.router.routes()
            if route.resource is not None and route.method != "HEAD"
        }
    )
    return web.json_response({"service": "reqflo demo API", "routes": routes})


def create_app(users: Mapping[str, str] | None = None) -> web.Application:
    """A fresh demo API; `users` (username → password) replaces the demo users."""
    app = web.Application(middlewares=[count_and_jsonify_errors])
    app[STATE] = DemoState(users=dict(DEMO_USERS if users is None else users))
    app.router.add_get("/", index)
    orders.add_routes(app)
    tools.add_routes(app)
    graphql.add_routes(app)
    return app


async def start_demo(
    host: str = "127.0.0.1",
    port: int = 0,
    users: Mapping[str, str] | None = None,
    access_log: bool = False,
) -> tuple[web.AppRunner, str]:
    """Serve a fresh demo API; returns the runner (call `await runner.cleanup()` to stop)
    and the base URL such as `http://127.0.0.1:54321`. Port 0 picks a free port."""
    app = create_app(users)
    runner = web.AppRunner(app) if access_log else web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    bound_port = runner.addresses[0][1]
    url_host = f"[{host}]" if ":" in host else host
    return runner, f"http://{url_host}:{bound_port}"


@asynccontextmanager
async def demo_server(
    host: str = "127.0.0.1", users: Mapping[str, str] | None = None
) -> AsyncIterator[str]:
    """`async with demo_server() as base_url:` serves a fresh demo API for the block."""
    runner, base_url = await start_demo(host, 0, users)
    try:
        yield base_url
    finally:
        await runner.cleanup()
