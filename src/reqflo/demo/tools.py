"""Test-helper endpoints of the demo API: echo, delays, statuses, redirects, cookies,
a flaky endpoint, form/multipart parsing and request statistics.

Routes (any method unless said otherwise):
    /echo?status=N            reflects method, path, url, headers, query, cookies, body and
                              parsed JSON; request headers are also reflected as `X-Echo-<Name>`
                              response headers (for leak tests); `status` picks the response code
    GET /slow?ms=N            answers after N milliseconds
    /status/{code}            answers with that status
    /redirect?to=URL&code=30x&hops=N
                              redirects (N hops through /redirect, then to URL)
    GET /cookies              the request's cookies
    GET /cookies/set?name=value...    sets each query parameter as a cookie
    GET /cookies/delete?name...       expires the named cookies
    /flaky?key=K&succeed_after=N&status=503
                              fails with `status` until the Nth call for key K, then 200
    POST /form                urlencoded or multipart: the fields and uploaded files
    GET /stats                request counts per "METHOD /path" (stats routes excluded)
    POST /stats/reset         zeroes the counts
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from aiohttp import BodyPartReader, web

from reqflo.demo.common import http_error, int_param, multi_dict, state_of

NOT_REFLECTED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "expect"}
)
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
BODYLESS_STATUSES = frozenset({204, 304})


async def echo(request: web.Request) -> web.Response:
    status = int_param(request, "status", 200, 200, 599)
    if status in BODYLESS_STATUSES:
        raise http_error(web.HTTPBadRequest, "/echo cannot answer 204 or 304: they have no body")
    raw = await request.read()
    text = raw.decode("utf-8", errors="replace")
    payload = {
        "method": request.method,
        "path": request.path,
        "url": str(request.url),
        "headers": _headers(request),
        "query": multi_dict(request.query.items()),
        "cookies": dict(request.cookies),
        "body": text,
        "json": _json_or_none(text),
    }
    return web.json_response(payload, status=status, headers=_reflected_headers(request))


def _headers(request: web.Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _reflected_headers(request: web.Request) -> dict[str, str]:
    return {
        f"X-Echo-{name}": value
        for name, value in _headers(request).items()
        if name.lower() not in NOT_REFLECTED and value.isascii() and value.isprintable()
    }


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return None


async def slow(request: web.Request) -> web.Response:
    delay_ms = int_param(request, "ms", 1000, 0, 60_000)
    await asyncio.sleep(delay_ms / 1000)
    return web.json_response({"slept_ms": delay_ms})


async def status(request: web.Request) -> web.Response:
    try:
        code = int(request.match_info["code"])
    except ValueError:
        code = 0
    if not 200 <= code <= 599:
        raise http_error(web.HTTPBadRequest, "the status must be an integer in 200..599")
    if code in BODYLESS_STATUSES:
        return web.Response(status=code)
    return web.json_response({"status": code}, status=code)


async def redirect(request: web.Request) -> web.Response:
    target = request.query.get("to")
    if not target:
        raise http_error(web.HTTPBadRequest, "query parameter 'to' is required")
    code = int_param(request, "code", 302, 301, 308)
    if code not in REDIRECT_CODES:
        raise http_error(web.HTTPBadRequest, "'code' must be one of 301, 302, 303, 307, 308")
    hops = int_param(request, "hops", 1, 1, 1000)
    location = target
    if hops > 1:
        location = str(request.rel_url.update_query(hops=hops - 1))
    return web.Response(status=code, headers={"Location": location})


async def cookies(request: web.Request) -> web.Response:
    return web.json_response({"cookies": dict(request.cookies)})


async def set_cookies(request: web.Request) -> web.Response:
    current = dict(request.cookies)
    current.update(request.query)
    response = web.json_response({"cookies": current})
    for name, value in request.query.items():
        response.set_cookie(name, value, path="/")
    return response


async def delete_cookies(request: web.Request) -> web.Response:
    remaining = {k: v for k, v in request.cookies.items() if k not in request.query}
    response = web.json_response({"cookies": remaining})
    for name in request.query:
        response.del_cookie(name, path="/")
    return response


async def flaky(request: web.Request) -> web.Response:
    key = request.query.get("key", "default")
    succeed_after = int_param(request, "succeed_after", 3, 1, 1000)
    fail_status = int_param(request, "status", 503, 400, 599)
    state = state_of(request)
    state.flaky_calls[key] += 1
    attempt = state.flaky_calls[key]
    body = {"key": key, "attempt": attempt, "succeeds_on_attempt": succeed_after}
    if attempt < succeed_after:
        return web.json_response({"ok": False, **body}, status=fail_status)
    return web.json_response({"ok": True, **body})


async def form(request: web.Request) -> web.Response:
    if request.content_type == "application/x-www-form-urlencoded":
        fields = await request.post()
        return web.json_response(
            {"content_type": "urlencoded", "fields": multi_dict(fields.items()), "files": []}
        )
    if request.content_type == "multipart/form-data":
        return web.json_response(await _read_multipart(request))
    raise http_error(
        web.HTTPUnsupportedMediaType,
        "send application/x-www-form-urlencoded or multipart/form-data",
        content_type=request.content_type,
    )


async def _read_multipart(request: web.Request) -> dict[str, Any]:
    reader = await request.multipart()
    fields: list[tuple[str, str]] = []
    files: list[dict[str, Any]] = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise http_error(web.HTTPBadRequest, "nested multipart bodies are not supported")
        if part.filename is None:
            fields.append((part.name or "", await part.text()))
        else:
            files.append(await _file_summary(part))
    return {"content_type": "multipart", "fields": multi_dict(fields), "files": files}


async def _file_summary(part: BodyPartReader) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    while chunk := await part.read_chunk():
        digest.update(chunk)
        size += len(chunk)
    return {
        "field": part.name,
        "filename": part.filename,
        "content_type": part.headers.get("Content-Type"),
        "size": size,
        "sha256": digest.hexdigest(),
    }


async def stats(request: web.Request) -> web.Response:
    counts = state_of(request).request_counts
    ordered = dict(sorted(counts.items()))
    return web.json_response({"total": sum(counts.values()), "counts": ordered})


async def reset_stats(request: web.Request) -> web.Response:
    state_of(request).request_counts.clear()
    return web.json_response({"reset": True})


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/slow", slow)
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_route("*", "/redirect", redirect)
    app.router.add_get("/cookies", cookies)
    app.router.add_get("/cookies/set", set_cookies)
    app.router.add_get("/cookies/delete", delete_cookies)
    app.router.add_route("*", "/flaky", flaky)
    app.router.add_post("/form", form)
    app.router.add_get("/stats", stats)
    app.router.add_post("/stats/reset", reset_stats)
