"""Helpers shared by the demo API's handlers: state access, JSON errors, auth, parameters.

Every error the demo API returns is JSON: `{"error": "...", ...}` with the right status.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from reqflo.demo.state import DemoState

STATE = web.AppKey("reqflo_demo_state", DemoState)
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="reqflo-demo"'}


def state_of(request: web.Request) -> DemoState:
    return request.app[STATE]


def http_error(
    kind: type[web.HTTPError],
    message: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.HTTPError:
    """An aiohttp HTTP error whose body is `{"error": message, **extra}`."""
    body = json.dumps({"error": message, **extra})
    return kind(text=body, content_type="application/json", headers=headers)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 naming what is wrong."""
    raw = await request.read()
    try:
        payload = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise http_error(web.HTTPBadRequest, f"the body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise http_error(web.HTTPBadRequest, "the body must be a JSON object")
    return payload


def current_user(request: web.Request) -> str | None:
    """The user behind a valid bearer token or session cookie, or None."""
    state = state_of(request)
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return state.tokens.get(token.strip())
    session = request.cookies.get("session")
    return state.sessions.get(session) if session else None


def require_user(request: web.Request) -> str:
    """The authenticated user, or a 401 telling how to authenticate."""
    user = current_user(request)
    if user is None:
        raise http_error(
            web.HTTPUnauthorized,
            "authentication required: send 'Authorization: Bearer <token>' from POST "
            "/auth/login, or its session cookie",
            headers=BEARER_CHALLENGE,
        )
    return user


def int_param(request: web.Request, name: str, default: int | None, low: int, high: int) -> int:
    """An integer query parameter in [low, high]; a 400 when it is missing or wrong."""
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise http_error(web.HTTPBadRequest, f"query parameter '{name}' is required")
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise http_error(
            web.HTTPBadRequest, f"query parameter '{name}' must be an integer in {low}..{high}"
        )
    return value


def multi_dict(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Multidict items as a plain dict: a repeated name maps to the list of its values."""
    result: dict[str, Any] = {}
    for key, value in items:
        if key in result:
            previous = result[key]
            result[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            result[key] = value
    return result
