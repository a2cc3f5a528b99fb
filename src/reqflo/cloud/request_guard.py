"""Input PostgreSQL cannot take, refused before it reaches a query: NUL characters.

PostgreSQL text cannot hold a NUL (U+0000) and psycopg refuses one in any text parameter,
so a NUL in a run id, a diff cursor or a token name failed in the database: a 500 on
PostgreSQL (SQLite took it). Owns:
- `NulGuard`: ASGI middleware answering a request whose path, query string or URL-encoded
  form body (the web UI's forms) holds a NUL (`%00`) before any route runs, through the
  app's HTTPException handler: under /api/ a 422 whose JSON `detail` names the parameter
  (`query.after: ...`, `path: ...`), on a web page the web UI's 400 error page
  (`form.name: ...`).
- `Text`: a request-body string that may not hold a NUL (a precise 422 naming the field);
  for the body fields stored in text columns. JSON values (run inputs, rows, environment
  values) are stored as JSON, where a NUL is an escape sequence, and keep accepting one.
- `JsonObject`, `JsonRows`: those JSON values, refusing NaN and infinity (a JSON column kept
  them and the response showed null, but no request body can carry them) and nesting deeper
  than `conversion.MAX_VALUE_DEPTH` levels.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse
from pydantic import AfterValidator
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reqflo.conversion import json_value_problem

NUL = "\x00"
REFUSED = "may not contain a NUL character (%00, \\u0000); remove it"


class NulGuard:
    """Answers 422 (/api/) or 400 (pages) when the path, query or a form holds a NUL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        where = nul_in(scope) if scope["type"] == "http" else None
        if where is None and scope["type"] == "http" and _is_form(scope):
            body = await _body(receive)
            where, receive = nul_in_form(body), _replaying(body, receive)
        if where is None:
            await self.app(scope, receive, send)
            return
        response = await _refusal(Request(scope, receive), where)
        await response(scope, receive, send)


def nul_in(scope: Scope) -> str | None:
    """Where a request's path or query holds a NUL ('path', 'query.NAME'), or None."""
    if NUL in scope.get("path", ""):
        return "path"
    query: bytes = scope.get("query_string", b"")
    if b"%00" not in query and NUL.encode() not in query:
        return None
    return _field_with_nul(query, "query")


def nul_in_form(body: bytes) -> str | None:
    """The field of a URL-encoded form holding a NUL ('form.NAME'), or None."""
    return _field_with_nul(body, "form") if b"%00" in body or NUL.encode() in body else None


def _field_with_nul(encoded: bytes, kind: str) -> str | None:
    pairs = parse_qsl(encoded.decode("latin-1"), keep_blank_values=True, errors="replace")
    for name, value in pairs:
        if NUL in name or NUL in value:
            return f"{kind}.{name.replace(NUL, '%00')}"
    return None


def _is_form(scope: Scope) -> bool:
    headers = dict(scope.get("headers", ()))
    kind: bytes = headers.get(b"content-type", b"")
    return kind.split(b";")[0].strip().lower() == b"application/x-www-form-urlencoded"


async def _body(receive: Receive) -> bytes:
    """The whole request body (a web form: the pages read it all anyway)."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body read already, then the client's messages."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _refusal(request: Request, where: str) -> Response:
    api = request.url.path.startswith("/api/")
    refused = HTTPException(422 if api else 400, f"{where}: {REFUSED}")
    handler = request.app.exception_handlers.get(HTTPException)
    if handler is None:
        return JSONResponse({"detail": refused.detail}, status_code=refused.status_code)
    response: Response = await handler(request, refused)
    return response


def _no_nul(value: str) -> str:
    if NUL in value:
        raise ValueError(REFUSED)
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


def _json_values(value: Any) -> Any:
    problem = json_value_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_json_values)]
JsonRows = Annotated[list[dict[str, Any]], AfterValidator(_json_values)]

__all__ = ["REFUSED", "JsonObject", "JsonRows", "NulGuard", "Text", "nul_in", "nul_in_form"]
