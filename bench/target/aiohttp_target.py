"""Fallback benchmark target when nginx cannot be installed: the same three endpoints as
bench/target/nginx.conf.in, served by aiohttp (uvloop when installed) on 127.0.0.1.

    python bench/target/aiohttp_target.py PORT
"""

from __future__ import annotations

import asyncio
import itertools
import sys

from aiohttp import web

_ids = itertools.count(1)
_JSON = "application/json"


def _authorized(request: web.Request) -> bool:
    return request.headers.get("Authorization", "").startswith("Bearer tok-")


async def login(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(
        text=f'{{"token":"tok-{next(_ids):032x}","user":"bench"}}', content_type=_JSON
    )


async def profile(request: web.Request) -> web.Response:
    if not _authorized(request):
        return web.Response(status=401, text='{"error":"unauthorized"}', content_type=_JSON)
    return web.Response(text='{"ok":true,"name":"bench","plan":"pro"}', content_type=_JSON)


async def orders(request: web.Request) -> web.Response:
    await request.read()
    if not _authorized(request):
        return web.Response(status=401, text='{"error":"unauthorized"}', content_type=_JSON)
    return web.Response(status=201, text='{"id":"ord-1","status":"created"}', content_type=_JSON)


def main() -> None:
    try:
        import uvloop  # type: ignore[import-not-found]

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    app = web.Application()
    app.add_routes(
        [web.post("/login", login), web.get("/profile", profile), web.post("/orders", orders)]
    )
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
