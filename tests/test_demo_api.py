"""The demo target API, exercised over real HTTP on 127.0.0.1 with an aiohttp client."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import reqflo
from reqflo.demo import DEMO_PASSWORD, demo_server, start_demo

Client = aiohttp.ClientSession


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    runner, base_url = await start_demo()
    jar = aiohttp.CookieJar(unsafe=True)  # accept cookies from an IP address host
    async with aiohttp.ClientSession(base_url=base_url, cookie_jar=jar) as session:
        yield session
    await runner.cleanup()


async def login(client: Client, username: str = "demo", password: str = DEMO_PASSWORD) -> str:
    async with client.post(
        "/auth/login", json={"username": username, "password": password}
    ) as response:
        assert response.status == 200
        token: str = (await response.json())["token"]
        return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(
    client: Client, method: str, path: str, **kwargs: Any
) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with client.request(method, path, **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body, response


# ------------------------------------------------------------------ login and /me


async def test_login_returns_a_token_and_a_session_cookie(client: Client) -> None:
    status, body, response = await call(
        client, "POST", "/auth/login", json={"username": "demo", "password": DEMO_PASSWORD}
    )
    assert status == 200
    assert body["username"] == "demo" and body["token"].startswith("demo-")
    assert "session" in response.cookies


async def test_login_rejects_a_wrong_password_and_malformed_bodies(client: Client) -> None:
    status, body, _ = await call(
        client, "POST", "/auth/login", json={"username": "demo", "password": "nope"}
    )
    assert (status, body) == (401, {"error": "invalid username or password"})
    status, body, _ = await call(client, "POST", "/auth/login", json={"username": "demo"})
    assert status == 400 and "required" in body["error"]
    status, body, _ = await call(client, "POST", "/auth/login", data=b"{not json")
    assert status == 400 and "not valid JSON" in body["error"]


async def test_me_accepts_a_bearer_token_or_the_session_cookie(client: Client) -> None:
    token = await login(client)
    status, body, _ = await call(client, "GET", "/me", headers=bearer(token))
    assert (status, body) == (200, {"username": "demo", "authenticated_with": "bearer"})
    status, body, _ = await call(client, "GET", "/me")  # the jar sends the session cookie
    assert (status, body["authenticated_with"]) == (200, "session_cookie")


async def test_me_without_valid_credentials_is_401_with_a_challenge(client: Client) -> None:
    status, body, response = await call(client, "GET", "/me")
    assert status == 401 and "authentication required" in body["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    status, _, _ = await call(client, "GET", "/me", headers=bearer("demo-forged"))
    assert status == 401


async def test_custom_users_replace_the_demo_users() -> None:
    async with demo_server(users={"canary": "s3cret-canary", "ünï": "pässwörd"}) as base_url:
        session = aiohttp.ClientSession(base_url=base_url)
        async with session:
            assert await login(session, "canary", "s3cret-canary")
            assert await login(session, "ünï", "pässwörd")
            demo_login = {"username": "demo", "password": DEMO_PASSWORD}
            status, _, _ = await call(session, "POST", "/auth/login", json=demo_login)
            assert status == 401


# ------------------------------------------------------------------------- orders


async def test_orders_crud_round_trip(client: Client) -> None:
    auth = bearer(await login(client))
    status, body, response = await call(
        client, "POST", "/orders", json={"customer_id": "c-42", "quantity": 2}, headers=auth
    )
    assert status == 201
    order = body["order"]
    assert order == {"id": order["id"], "customer_id": "c-42", "quantity": 2, "status": "created"}
    assert response.headers["Location"] == f"/orders/{order['id']}"

    assert (await call(client, "GET", f"/orders/{order['id']}", headers=auth))[1] == body
    status, listing, _ = await call(client, "GET", "/orders", headers=auth)
    assert listing == {"orders": [order], "count": 1}

    status, body, _ = await call(
        client, "PUT", f"/orders/{order['id']}", json={"status": "paid"}, headers=auth
    )
    assert status == 200 and body["order"]["status"] == "paid"
    status, _, _ = await call(client, "DELETE", f"/orders/{order['id']}", headers=auth)
    assert status == 204
    status, body, _ = await call(client, "GET", f"/orders/{order['id']}", headers=auth)
    assert status == 404 and body["error"] == f"order '{order['id']}' not found"


async def test_order_list_filters_by_status_and_customer(client: Client) -> None:
    auth = bearer(await login(client))
    for customer in ("c-1", "c-2", "c-1"):
        await call(
            client, "POST", "/orders", json={"customer_id": customer, "quantity": 1}, headers=auth
        )
    _, body, _ = await call(client, "GET", "/orders?customer_id=c-1", headers=auth)
    assert [o["customer_id"] for o in body["orders"]] == ["c-1", "c-1"]
    _, body, _ = await call(client, "GET", "/orders?status=paid", headers=auth)
    assert body == {"orders": [], "count": 0}


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"customer_id": "c", "quantity": "2"}, "quantity", "must be an integer from 1 to 10000"),
        ({"customer_id": "c", "quantity": True}, "quantity", "must be an integer"),
        ({"customer_id": "c", "quantity": 0}, "quantity", "must be an integer"),
        ({"customer_id": "", "quantity": 1}, "customer_id", "must be a non-empty string"),
        ({"quantity": 1}, "customer_id", "is required"),
        ({"customer_id": "c", "quantity": 1, "note": "x"}, "note", "unknown field"),
    ],
)
async def test_invalid_orders_are_422_naming_the_field(
    client: Client, payload: dict[str, Any], field: str, message: str
) -> None:
    auth = bearer(await login(client))
    status, body, _ = await call(client, "POST", "/orders", json=payload, headers=auth)
    assert status == 422 and body["field"] == field and message in body["error"]


async def test_orders_need_auth_and_belong_to_their_owner(client: Client) -> None:
    status, _, _ = await call(client, "POST", "/orders", json={"customer_id": "c", "quantity": 1})
    assert status == 401
    demo, alice = (
        bearer(await login(client)),
        bearer(await login(client, "alice", "alice-password")),
    )
    _, body, _ = await call(
        client, "POST", "/orders", json={"customer_id": "c", "quantity": 1}, headers=demo
    )
    order_id = body["order"]["id"]
    assert (await call(client, "GET", f"/orders/{order_id}", headers=alice))[0] == 404
    assert (await call(client, "DELETE", f"/orders/{order_id}", headers=alice))[0] == 404
    assert (await call(client, "GET", "/orders", headers=alice))[1]["count"] == 0


async def test_an_update_with_a_bad_status_or_nothing_is_422(client: Client) -> None:
    auth = bearer(await login(client))
    _, body, _ = await call(
        client, "POST", "/orders", json={"customer_id": "c", "quantity": 1}, headers=auth
    )
    path = f"/orders/{body['order']['id']}"
    status, body, _ = await call(client, "PUT", path, json={"status": "lost"}, headers=auth)
    assert status == 422 and body["field"] == "status"
    status, body, _ = await call(client, "PUT", path, json={}, headers=auth)
    assert status == 422 and "nothing to update" in body["error"]


async def test_an_idempotency_key_replays_the_same_order(client: Client) -> None:
    auth = bearer(await login(client))
    headers = {**auth, "Idempotency-Key": "key-1"}
    payload = {"customer_id": "c-9", "quantity": 3}
    first = await call(client, "POST", "/orders", json=payload, headers=headers)
    second = await call(client, "POST", "/orders", json=payload, headers=headers)
    assert first[0] == second[0] == 201
    assert first[1] == second[1]
    assert "Idempotent-Replayed" not in first[2].headers
    assert second[2].headers["Idempotent-Replayed"] == "true"
    assert (await call(client, "GET", "/orders", headers=auth))[1]["count"] == 1

    other = await call(
        client, "POST", "/orders", json=payload, headers={**auth, "Idempotency-Key": "key-2"}
    )
    assert other[1]["order"]["id"] != first[1]["order"]["id"]


async def test_an_idempotency_key_reused_with_another_body_is_422(client: Client) -> None:
    headers = {**bearer(await login(client)), "Idempotency-Key": "k"}
    await call(client, "POST", "/orders", json={"customer_id": "a", "quantity": 1}, headers=headers)
    status, body, _ = await call(
        client, "POST", "/orders", json={"customer_id": "a", "quantity": 2}, headers=headers
    )
    assert status == 422 and "already used with a different request" in body["error"]


# --------------------------------------------------------------- stats and flaky


async def test_stats_count_requests_per_method_and_path_and_reset(client: Client) -> None:
    await call(client, "GET", "/echo")
    await call(client, "POST", "/echo")
    await call(client, "GET", "/echo?x=1")
    await call(client, "GET", "/nowhere")
    _, body, _ = await call(client, "GET", "/stats")
    assert body == {"total": 4, "counts": {"GET /echo": 2, "GET /nowhere": 1, "POST /echo": 1}}
    assert (await call(client, "POST", "/stats/reset"))[1] == {"reset": True}
    assert (await call(client, "GET", "/stats"))[1] == {"total": 0, "counts": {}}


async def test_flaky_fails_until_the_nth_call_for_its_key(client: Client) -> None:
    statuses = [(await call(client, "GET", "/flaky?key=a&succeed_after=3"))[0] for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    status, body, _ = await call(client, "GET", "/flaky?key=b&succeed_after=2&status=500")
    assert status == 500 and body == {
        "ok": False,
        "key": "b",
        "attempt": 1,
        "succeeds_on_attempt": 2,
    }
    status, body, _ = await call(client, "POST", "/flaky?key=b&succeed_after=2")
    assert status == 200 and body["ok"] is True


async def test_bad_query_parameters_are_400(client: Client) -> None:
    status, body, _ = await call(client, "GET", "/flaky?succeed_after=many")
    assert status == 400 and "'succeed_after' must be an integer in 1..1000" in body["error"]
    assert (await call(client, "GET", "/slow?ms=-1"))[0] == 400


# ------------------------------------------------------------------ echo and co


async def test_echo_reflects_the_whole_request(client: Client) -> None:
    client.cookie_jar.update_cookies({"flavour": "oat"})
    status, body, response = await call(
        client,
        "PATCH",
        "/echo?a=1&a=2&b=x",
        json={"k": [1, 2]},
        headers={"X-Token": "canary-123"},
    )
    assert status == 200
    assert body["method"] == "PATCH" and body["path"] == "/echo"
    assert body["query"] == {"a": ["1", "2"], "b": "x"}
    assert body["headers"]["X-Token"] == "canary-123"
    assert body["json"] == {"k": [1, 2]} and body["body"] == '{"k": [1, 2]}'
    assert body["cookies"] == {"flavour": "oat"}
    assert response.headers["X-Echo-X-Token"] == "canary-123"
    assert "X-Echo-Host" not in response.headers


async def test_echo_can_answer_with_an_error_status(client: Client) -> None:
    status, body, _ = await call(client, "POST", "/echo?status=500", data="plain text")
    assert status == 500 and body["body"] == "plain text" and body["json"] is None
    assert (await call(client, "GET", "/echo?status=204"))[0] == 400


async def test_status_answers_the_requested_code(client: Client) -> None:
    assert (await call(client, "GET", "/status/418"))[:2] == (418, {"status": 418})
    status, body, _ = await call(client, "DELETE", "/status/204")
    assert status == 204 and body is None
    assert (await call(client, "GET", "/status/600"))[0] == 400
    assert (await call(client, "GET", "/status/abc"))[0] == 400


async def test_slow_waits_the_requested_milliseconds(client: Client) -> None:
    assert (await call(client, "GET", "/slow?ms=5"))[:2] == (200, {"slept_ms": 5})


async def test_redirect_sends_location_with_the_requested_code(client: Client) -> None:
    status, _, response = await call(
        client, "GET", "/redirect?to=/echo&code=307", allow_redirects=False
    )
    assert status == 307 and response.headers["Location"] == "/echo"
    assert (await call(client, "GET", "/redirect?to=/echo&code=200"))[0] == 400
    assert (await call(client, "GET", "/redirect"))[0] == 400


async def test_redirect_hops_chain_through_redirect_before_the_target(client: Client) -> None:
    status, body, response = await call(client, "GET", "/redirect?to=/echo%3Fdone%3D1&hops=3")
    assert status == 200 and body["query"] == {"done": "1"}
    assert len(response.history) == 3


async def test_cookies_are_set_listed_and_deleted(client: Client) -> None:
    status, body, response = await call(client, "GET", "/cookies/set?a=1&b=two")
    assert status == 200 and body == {"cookies": {"a": "1", "b": "two"}}
    assert response.cookies["b"].value == "two"
    assert (await call(client, "GET", "/cookies"))[1] == {"cookies": {"a": "1", "b": "two"}}
    _, body, _ = await call(client, "GET", "/cookies/delete?a")
    assert body == {"cookies": {"b": "two"}}
    assert (await call(client, "GET", "/cookies"))[1] == {"cookies": {"b": "two"}}


async def test_form_parses_urlencoded_fields(client: Client) -> None:
    status, body, _ = await call(client, "POST", "/form", data={"name": "Ada", "n": "1"})
    assert status == 200
    assert body == {"content_type": "urlencoded", "fields": {"name": "Ada", "n": "1"}, "files": []}


async def test_form_parses_multipart_fields_and_files(client: Client) -> None:
    content = b"id,qty\n1,2\n"
    form = aiohttp.FormData()
    form.add_field("note", "hello")
    form.add_field("upload", content, filename="rows.csv", content_type="text/csv")
    status, body, _ = await call(client, "POST", "/form", data=form)
    assert status == 200 and body["content_type"] == "multipart"
    assert body["fields"] == {"note": "hello"}
    assert body["files"] == [
        {
            "field": "upload",
            "filename": "rows.csv",
            "content_type": "text/csv",
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
    ]


async def test_form_rejects_other_content_types(client: Client) -> None:
    status, body, _ = await call(client, "POST", "/form", json={"a": 1})
    assert status == 415 and body["content_type"] == "application/json"


async def test_unknown_routes_and_methods_answer_json(client: Client) -> None:
    status, body, _ = await call(client, "GET", "/nowhere")
    assert (status, body) == (404, {"error": "Not Found"})
    status, body, response = await call(client, "PATCH", "/orders")
    assert status == 405 and body == {"error": "Method Not Allowed"}
    assert "POST" in response.headers["Allow"]


# ------------------------------------------------------------------------ graphql


async def _create(client: Client, auth: dict[str, str]) -> str:
    _, body, _ = await call(
        client, "POST", "/orders", json={"customer_id": "c-5", "quantity": 4}, headers=auth
    )
    order_id: str = body["order"]["id"]
    return order_id


async def test_graphql_answers_an_order_query_with_a_literal(client: Client) -> None:
    auth = bearer(await login(client))
    order_id = await _create(client, auth)
    query = f'{{ order(id: "{order_id}") {{ id status }} }}'
    status, body, _ = await call(client, "POST", "/graphql", json={"query": query}, headers=auth)
    assert (status, body) == (200, {"data": {"order": {"id": order_id, "status": "created"}}})


async def test_graphql_uses_variables_aliases_and_typename(client: Client) -> None:
    auth = bearer(await login(client))
    order_id = await _create(client, auth)
    query = """query GetOrder($id: ID!) {
        o: order(id: $id) { __typename id qty: quantity }
        orders(status: "created") { id }
        me { username }
    }"""
    payload = {"query": query, "variables": {"id": order_id}}
    _, body, _ = await call(client, "POST", "/graphql", json=payload, headers=auth)
    assert body == {
        "data": {
            "o": {"__typename": "Order", "id": order_id, "qty": 4},
            "orders": [{"id": order_id}],
            "me": {"username": "demo"},
        }
    }


async def test_graphql_mutation_creates_an_order(client: Client) -> None:
    auth = bearer(await login(client))
    query = 'mutation { createOrder(customer_id: "c-1", quantity: 2) { id quantity } }'
    _, body, _ = await call(client, "POST", "/graphql", json={"query": query}, headers=auth)
    created = body["data"]["createOrder"]
    assert created["quantity"] == 2
    assert (await call(client, "GET", f"/orders/{created['id']}", headers=auth))[0] == 200


async def test_graphql_field_errors_are_data_with_null_results(client: Client) -> None:
    auth = bearer(await login(client))
    query = '{ order(id: "ord-missing") { id } orders { nope } __typename }'
    status, body, _ = await call(client, "POST", "/graphql", json={"query": query}, headers=auth)
    assert status == 200
    assert body["data"] == {"order": None, "orders": None, "__typename": "Query"}
    assert [e["message"] for e in body["errors"]] == [
        "order 'ord-missing' not found",
        "Cannot query field 'nope' on type 'Order'",
    ]


async def test_graphql_without_auth_reports_an_error_per_field(client: Client) -> None:
    _, body, _ = await call(client, "POST", "/graphql", json={"query": "{ me { username } }"})
    assert body == {
        "data": {"me": None},
        "errors": [{"message": "authentication required", "path": ["me"]}],
    }


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"query": "{ order(id: ) { id } }"}, "Syntax Error: unexpected ')' as a value"),
        ({"query": "{ order { id }"}, "Syntax Error: expected '}', found end of query"),
        ({"query": "query($id: ID!) { order(id: $id) { id } }"}, "Variable '$id' was not"),
        ({"query": 42}, "'query' must be a string"),
    ],
)
async def test_graphql_malformed_requests_are_400(
    client: Client, payload: dict[str, Any], message: str
) -> None:
    status, body, _ = await call(client, "POST", "/graphql", json=payload)
    assert status == 400 and body["errors"][0]["message"].startswith(message)


# --------------------------------------------------------------- instances, CLI


async def test_each_app_instance_has_its_own_state() -> None:
    async with demo_server() as first, demo_server() as second:
        assert first != second
        async with aiohttp.ClientSession(base_url=first) as on_first:
            token = await login(on_first)
            assert (await call(on_first, "GET", "/me", headers=bearer(token)))[0] == 200
        async with aiohttp.ClientSession(base_url=second) as on_second:
            assert (await call(on_second, "GET", "/me", headers=bearer(token)))[0] == 401


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_python_dash_m_reqflo_demo_serves_until_stopped() -> None:
    port = _free_port()
    src = str(Path(reqflo.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen(
        [sys.executable, "-m", "reqflo.demo", "--port", str(port), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner and "demo/demo-password" in banner
        body = _get_json(f"http://127.0.0.1:{port}/")
        assert body["service"] == "reqflo demo API" and "POST /orders" in body["routes"]
    finally:
        process.terminate()
        process.communicate(timeout=10)


def _get_json(url: str) -> Any:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
