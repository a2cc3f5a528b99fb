"""Accounts and orders of the demo API: login, /me and orders CRUD with idempotent POST.

Routes:
    POST   /auth/login      {"username", "password"} → {"token", ...} + `session` cookie
    POST   /auth/logout     revokes the bearer token / session
    GET    /me              the authenticated user (bearer token or session cookie)
    POST   /orders          {"customer_id", "quantity"} → 201 {"order": {...}}; an
                            `Idempotency-Key` header (scoped per user) makes a retried POST
                            return the same order (`Idempotent-Replayed: true`); the same key
                            with a different body is a 422
    GET    /orders          {"orders": [...], "count": n}; filters ?status= and ?customer_id=
    GET    /orders/{id}     {"order": {...}}
    PUT    /orders/{id}     any of customer_id, quantity, status → {"order": {...}}
    DELETE /orders/{id}     204
Orders belong to the user who created them; other users get 404.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import web

from reqflo.demo.common import (
    http_error,
    read_json_object,
    require_user,
    state_of,
)
from reqflo.demo.state import ORDER_STATUSES, IdempotentResult, Order

MAX_QUANTITY = 10_000
CREATE_FIELDS = frozenset({"customer_id", "quantity"})
UPDATE_FIELDS = frozenset({"customer_id", "quantity", "status"})


async def login(request: web.Request) -> web.Response:
    payload = await read_json_object(request)
    username, password = payload.get("username"), payload.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise http_error(web.HTTPBadRequest, "'username' and 'password' are required strings")
    state = state_of(request)
    if not state.check_password(username, password):
        raise http_error(web.HTTPUnauthorized, "invalid username or password")
    token, session = state.open_session(username)
    response = web.json_response({"token": token, "token_type": "bearer", "username": username})
    response.set_cookie("session", session, httponly=True, samesite="Lax", path="/")
    return response


async def logout(request: web.Request) -> web.Response:
    require_user(request)
    state = state_of(request)
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    state.tokens.pop(token.strip(), None)
    state.sessions.pop(request.cookies.get("session", ""), None)
    response = web.Response(status=204)
    response.del_cookie("session", path="/")
    return response


async def me(request: web.Request) -> web.Response:
    user = require_user(request)
    via = "bearer" if "Authorization" in request.headers else "session_cookie"
    return web.json_response({"username": user, "authenticated_with": via})


async def create_order(request: web.Request) -> web.Response:
    user = require_user(request)
    fields = _order_fields(await read_json_object(request), CREATE_FIELDS, required=True)
    state = state_of(request)
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return _created(state.add_order(user, fields["customer_id"], fields["quantity"]))
    fingerprint = json.dumps(fields, sort_keys=True)
    previous = state.idempotency.get((user, key))
    if previous is not None:
        if previous.fingerprint != fingerprint:
            raise http_error(
                web.HTTPUnprocessableEntity,
                f"Idempotency-Key '{key}' was already used with a different request body",
            )
        return _created(previous.order, replayed=True)
    order = state.add_order(user, fields["customer_id"], fields["quantity"])
    state.idempotency[(user, key)] = IdempotentResult(fingerprint, order)
    return _created(order)


def _created(order: Order, replayed: bool = False) -> web.Response:
    headers = {"Location": f"/orders/{order.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return web.json_response({"order": order.public()}, status=201, headers=headers)


async def list_orders(request: web.Request) -> web.Response:
    user = require_user(request)
    orders = state_of(request).orders_of(user)
    for name in ("status", "customer_id"):
        wanted = request.query.get(name)
        if wanted is not None:
            orders = [o for o in orders if getattr(o, name) == wanted]
    return web.json_response({"orders": [o.public() for o in orders], "count": len(orders)})


async def get_order(request: web.Request) -> web.Response:
    order = _owned_order(request)
    return web.json_response({"order": order.public()})


async def update_order(request: web.Request) -> web.Response:
    order = _owned_order(request)
    fields = _order_fields(await read_json_object(request), UPDATE_FIELDS, required=False)
    if not fields:
        raise http_error(
            web.HTTPUnprocessableEntity,
            f"nothing to update: send any of {', '.join(sorted(UPDATE_FIELDS))}",
        )
    updated = dataclasses.replace(order, **fields)
    state_of(request).orders[order.id] = updated
    return web.json_response({"order": updated.public()})


async def delete_order(request: web.Request) -> web.Response:
    order = _owned_order(request)
    del state_of(request).orders[order.id]
    return web.Response(status=204)


def _owned_order(request: web.Request) -> Order:
    user = require_user(request)
    order_id = request.match_info["order_id"]
    order = state_of(request).orders.get(order_id)
    if order is None or order.owner != user:
        raise http_error(web.HTTPNotFound, f"order '{order_id}' not found", id=order_id)
    return order


def _order_fields(
    payload: dict[str, Any], allowed: frozenset[str], required: bool
) -> dict[str, Any]:
    """Validated order fields from a request body; a 422 names the offending field."""
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise _invalid(unknown[0], f"unknown field; allowed: {', '.join(sorted(allowed))}")
    if required:
        missing = sorted(allowed - set(payload))
        if missing:
            raise _invalid(missing[0], "is required")
    for name, value in payload.items():
        problem = field_problem(name, value)
        if problem:
            raise _invalid(name, problem)
    return dict(payload)


def field_problem(name: str, value: Any) -> str | None:
    if name == "customer_id" and (not isinstance(value, str) or not value.strip()):
        return "must be a non-empty string"
    if name == "quantity" and (
        isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY
    ):
        return f"must be an integer from 1 to {MAX_QUANTITY}, got {json.dumps(value)}"
    if name == "status" and value not in ORDER_STATUSES:
        return f"must be one of {', '.join(ORDER_STATUSES)}"
    return None


def _invalid(field: str, problem: str) -> web.HTTPError:
    return http_error(web.HTTPUnprocessableEntity, f"'{field}' {problem}", field=field)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/auth/login", login)
    app.router.add_post("/auth/logout", logout)
    app.router.add_get("/me", me)
    app.router.add_post("/orders", create_order)
    app.router.add_get("/orders", list_orders)
    app.router.add_get("/orders/{order_id}", get_order)
    app.router.add_put("/orders/{order_id}", update_order)
    app.router.add_delete("/orders/{order_id}", delete_order)
