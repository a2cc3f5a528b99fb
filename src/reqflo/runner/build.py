"""Turning a plan's `RequestPlan` into a concrete `HttpRequest` for one instance.

Owns rendering of method, URL, query, headers and cookies against the instance scope,
the bodies (`json`, `text`, `form`, `multipart` with files read relative to the journey's
directory, `graphql`), the auth helpers (`basic`, `bearer`, OAuth2 client credentials)
and `OAuthTokens`, the per-run token cache (one token request per distinct client,
shared by every instance, refreshed shortly before it expires).

A body or auth header the request already sets explicitly wins over the defaults added
here (`Content-Type`, `Authorization`). Problems that are not unresolved references
raise `BuildError` with a stable code (`invalid-request`, `invalid-response`); every
fetched OAuth2 access token is reported through `on_secret` so it gets redacted.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from reqflo.artifact import AuthPlan, BodyPlan, MultipartPart, RequestPlan
from reqflo.http import HttpRequest, HttpResponse
from reqflo.values import Scope, compact_json, render_value, to_text

Sender = Callable[[HttpRequest], Awaitable[HttpResponse]]
SecretSink = Callable[[str], None]
_TOKEN_MARGIN_S = 30.0


class BuildError(Exception):
    """A request cannot be built; `code` is a stable step error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BuildContext:
    """What building needs besides the plan and the scope."""

    base_dir: Path
    tokens: OAuthTokens
    send: Sender
    on_secret: SecretSink


async def build_request(plan: RequestPlan, scope: Scope, ctx: BuildContext) -> HttpRequest:
    """Render `plan` against `scope`; raises UnresolvedReference or BuildError."""
    headers = _render_headers(plan.headers, scope)
    if plan.cookies:
        cookies = render_value(plan.cookies, scope)
        headers.append(("Cookie", "; ".join(f"{k}={to_text(v)}" for k, v in cookies.items())))
    body: bytes | None = None
    if plan.body is not None:
        body, content_type = _render_body(plan.body, scope, ctx.base_dir)
        if not _has_header(headers, "content-type"):
            headers.append(("Content-Type", content_type))
    if plan.auth is not None and not _has_header(headers, "authorization"):
        headers.append(("Authorization", await _authorization(plan.auth, scope, ctx)))
    return HttpRequest(
        method=plan.method.upper(),
        url=_render_url(plan.url, plan.query, scope),
        headers=tuple(headers),
        body=body,
        timeout_s=plan.timeout_ms / 1000,
        follow_redirects=plan.follow_redirects,
        verify_tls=plan.verify_tls,
    )


def _render_headers(headers: Mapping[str, str], scope: Scope) -> list[tuple[str, str]]:
    out = []
    for name, template in headers.items():
        value = render_value(template, scope)
        if value is not None:
            out.append((name, to_text(value)))
    return out


def _has_header(headers: list[tuple[str, str]], name: str) -> bool:
    return any(key.lower() == name for key, _ in headers)


def _render_url(url: str, query: Mapping[str, Any], scope: Scope) -> str:
    text = to_text(render_value(url, scope))
    if not query:
        return text
    pairs = query_pairs(render_value(dict(query), scope))
    if not pairs:
        return text
    return f"{text}{'&' if '?' in text else '?'}{urlencode(pairs)}"


def query_pairs(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Query/form pairs: lists repeat the key, None leaves it out."""
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        items = value if isinstance(value, list | tuple) else [value]
        pairs.extend((key, to_text(item)) for item in items if item is not None)
    return pairs


# ---------------------------------------------------------------- bodies


def _render_body(body: BodyPlan, scope: Scope, base_dir: Path) -> tuple[bytes, str]:
    if body.kind == "json":
        return _json_bytes(render_value(body.value, scope)), "application/json"
    if body.kind == "text":
        return to_text(render_value(body.value, scope)).encode(), "text/plain; charset=utf-8"
    if body.kind == "form":
        form = render_value(body.value or {}, scope)
        if not isinstance(form, Mapping):
            raise BuildError("invalid-request", "a form body must be a mapping of fields")
        return urlencode(query_pairs(form)).encode(), "application/x-www-form-urlencoded"
    if body.kind == "multipart":
        return _multipart(body.parts, scope, base_dir)
    return _json_bytes(_graphql_document(body.value, scope)), "application/json"


def _json_bytes(value: Any) -> bytes:
    return compact_json(value).encode()


def _graphql_document(value: Any, scope: Scope) -> dict[str, Any]:
    spec = render_value(value or {}, scope)
    if not isinstance(spec, Mapping) or not isinstance(spec.get("query"), str):
        raise BuildError("invalid-request", "a graphql body needs a 'query' string")
    document: dict[str, Any] = {"query": spec["query"], "variables": spec.get("variables") or {}}
    operation = spec.get("operation_name") or spec.get("operationName")
    if operation:
        document["operationName"] = operation
    return document


def _multipart(
    parts: Mapping[str, MultipartPart], scope: Scope, base_dir: Path
) -> tuple[bytes, str]:
    boundary = f"reqflo-{uuid.uuid4().hex}"
    chunks: list[bytes] = []
    for name, part in parts.items():
        chunks.append(f"--{boundary}\r\n".encode())
        chunks.append(_part_bytes(name, part, scope, base_dir))
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _part_bytes(name: str, part: MultipartPart, scope: Scope, base_dir: Path) -> bytes:
    disposition = f'form-data; name="{_quote(name)}"'
    if part.file is None:
        content = to_text(render_value(part.value, scope)).encode()
        content_type = part.content_type
    else:
        path = base_dir / to_text(render_value(part.file, scope))
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise BuildError(
                "invalid-request", f"multipart field '{name}': cannot read {path}: {exc.strerror}"
            ) from exc
        filename = to_text(render_value(part.filename, scope)) if part.filename else path.name
        disposition += f'; filename="{_quote(filename)}"'
        content_type = part.content_type or "application/octet-stream"
    head = f"Content-Disposition: {disposition}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode() + b"\r\n" + content


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


# ---------------------------------------------------------------- auth


async def _authorization(auth: AuthPlan, scope: Scope, ctx: BuildContext) -> str:
    if auth.kind == "basic":
        user = to_text(render_value(auth.username, scope))
        password = to_text(render_value(auth.password, scope))
        return basic_header(user, password)
    if auth.kind == "bearer":
        return f"Bearer {to_text(render_value(auth.token, scope))}"
    client = _client_of(auth, scope)
    token = await ctx.tokens.token(client, ctx.send)
    ctx.on_secret(token)
    return f"Bearer {token}"


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class OAuthClient:
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None


def _client_of(auth: AuthPlan, scope: Scope) -> OAuthClient:
    fields = render_value([auth.token_url, auth.client_id, auth.client_secret, auth.scope], scope)
    if not fields[0]:
        raise BuildError("invalid-request", "oauth2_client_credentials needs a token_url")
    return OAuthClient(
        to_text(fields[0]),
        to_text(fields[1]),
        to_text(fields[2]),
        to_text(fields[3]) if fields[3] else None,
    )


class OAuthTokens:
    """Client-credentials access tokens cached for one run (per token URL and client)."""

    def __init__(self) -> None:
        self._tokens: dict[OAuthClient, tuple[str, float]] = {}
        self._locks: dict[OAuthClient, asyncio.Lock] = {}

    async def token(self, client: OAuthClient, send: Sender) -> str:
        cached = self._tokens.get(client)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        lock = self._locks.setdefault(client, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(client)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            token, lifetime = await _fetch_token(client, send)
            self._tokens[client] = (token, time.monotonic() + max(0.0, lifetime - _TOKEN_MARGIN_S))
            return token


async def _fetch_token(client: OAuthClient, send: Sender) -> tuple[str, float]:
    form = {"grant_type": "client_credentials", "scope": client.scope}
    request = HttpRequest(
        method="POST",
        url=client.token_url,
        headers=(
            ("Authorization", basic_header(client.client_id, client.client_secret)),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ),
        body=urlencode(query_pairs(form)).encode(),
    )
    response = await send(request)
    failure = f"OAuth2 token request to {client.token_url} failed"
    if not 200 <= response.status < 300:
        raise BuildError("invalid-response", f"{failure}: HTTP {response.status}")
    try:
        document = response.json
    except ValueError:
        document = None
    token = document.get("access_token") if isinstance(document, dict) else None
    if not isinstance(token, str) or not token:
        raise BuildError("invalid-response", f"{failure}: no access_token in the response")
    expires = document.get("expires_in") if isinstance(document, dict) else None
    lifetime = float(expires) if isinstance(expires, int | float) else 3600.0
    return token, lifetime
