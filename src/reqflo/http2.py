"""An HTTP/2-capable transport on httpx, with the same contract as `AiohttpTransport`.

Owns `Http2Transport`, an optional `reqflo.http.Transport` for targets that should be
exercised over HTTP/2 (aiohttp, the default, speaks HTTP/1.1 only). It negotiates HTTP/2
through TLS ALPN and falls back to HTTP/1.1 where the server does not offer it (plain
`http://` URLs are always HTTP/1.1: no h2c); `HttpResponse.http_version` is "2" when
HTTP/2 was used.

Semantics match the default transport: one shared connection pool per TLS mode for the
whole run (sized to the run's concurrency; HTTP/2 multiplexes many requests on one
connection), the per-instance `AiohttpCookieStore` from `reqflo.http` (the pool itself
keeps no cookies), redirects followed here (301/302/303 become a body-less GET, 307/308
keep method and body, at most `max_redirects` hops, credentials dropped when a redirect
leaves the original origin), a total per-request timeout, `verify_tls=False` per request
or a custom `ssl_context`, and the same `TransportError` codes.

httpx verifies TLS per client, not per request, so two pools exist at most: a verifying
one and, made only when a request asks for `verify_tls=False`, a non-verifying one.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from http.cookiejar import CookieJar
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING

import httpx

from reqflo.http import (
    AiohttpCookieStore,
    CookieStore,
    Exchanged,
    Hop,
    HttpRequest,
    HttpResponse,
    TransportError,
    follow_redirects,
    merge_cookie_header,
    transport_error,
)

if TYPE_CHECKING:
    from http.client import HTTPResponse
    from urllib.request import Request

_VERSIONS = {"HTTP/2": "2", "HTTP/2.0": "2", "HTTP/1.1": "1.1", "HTTP/1.0": "1.0"}


class _NoCookies(CookieJar):
    """The pool's cookie jar: stores nothing (cookies belong to run instances)."""

    def extract_cookies(self, response: HTTPResponse, request: Request) -> None:
        return None


class Http2Transport:
    """A `Transport` that speaks HTTP/2 where the server offers it (httpx + h2).

    Use `async with Http2Transport(concurrency=20) as transport:` or call `close()`.
    Same constructor as `AiohttpTransport`: `ssl_context` customises verification (a
    private CA; httpx sets ALPN on it, so do not share it with an HTTP/1.1-only client),
    `verify_tls=False` on a request disables verification for that request.
    """

    def __init__(
        self,
        concurrency: int = 10,
        *,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = "reqflo",
        keepalive_timeout: float = 30.0,
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.ssl_context = ssl_context
        self.user_agent = user_agent
        self.keepalive_timeout = keepalive_timeout
        self._clients: dict[bool, httpx.AsyncClient] = {}

    async def __aenter__(self) -> Http2Transport:
        self._client(verify_tls=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def new_cookie_store(self) -> AiohttpCookieStore:
        return AiohttpCookieStore()

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def _client(self, verify_tls: bool) -> httpx.AsyncClient:
        client = self._clients.get(verify_tls)
        if client is None or client.is_closed:
            verify: ssl.SSLContext | bool = False
            if verify_tls:
                verify = self.ssl_context or ssl.create_default_context()
            size = self.concurrency + 4
            client = self._clients[verify_tls] = httpx.AsyncClient(
                http2=True,
                verify=verify,
                limits=httpx.Limits(
                    max_connections=size,
                    max_keepalive_connections=size,
                    keepalive_expiry=self.keepalive_timeout,
                ),
                cookies=_NoCookies(),
                headers={"User-Agent": self.user_agent},
                follow_redirects=False,
                trust_env=False,
            )
        return client

    async def send(self, request: HttpRequest, cookies: CookieStore) -> HttpResponse:
        if not isinstance(cookies, AiohttpCookieStore):
            raise TypeError("Http2Transport needs a cookie store from new_cookie_store()")
        started = time.perf_counter()
        try:
            return await self._follow(request, cookies, started)
        except TransportError:
            raise
        except Exception as exc:  # every client failure becomes a coded TransportError
            raise http2_transport_error(exc, request) from exc

    async def _follow(
        self, request: HttpRequest, cookies: AiohttpCookieStore, started: float
    ) -> HttpResponse:
        client = self._client(request.verify_tls)

        async def exchange(hop: Hop) -> Exchanged:
            async with asyncio.timeout(request.timeout_s):
                return _exchanged(await self._exchange(client, hop, request, cookies))

        return await follow_redirects(request, exchange, started)

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        hop: Hop,
        request: HttpRequest,
        cookies: AiohttpCookieStore,
    ) -> httpx.Response:
        headers = list(hop.headers)
        jar_cookies = cookies.header_for(hop.url)
        if jar_cookies:
            headers = merge_cookie_header(headers, jar_cookies)
        response = await client.request(
            hop.method,
            str(hop.url),
            headers=headers,
            content=hop.body,
            timeout=httpx.Timeout(request.timeout_s),
        )
        cookies.update(_set_cookies(response), hop.url)
        return response


def _set_cookies(response: httpx.Response) -> SimpleCookie:
    """The response's `Set-Cookie` headers; unparsable ones are skipped (as aiohttp does)."""
    parsed = SimpleCookie()
    for value in response.headers.get_list("set-cookie"):
        try:
            parsed.load(value)
        except CookieError:
            continue
    return parsed


def _exchanged(response: httpx.Response) -> Exchanged:
    return Exchanged(
        status=response.status_code,
        reason=response.reason_phrase,
        http_version=_VERSIONS.get(response.http_version, response.http_version),
        headers=tuple(response.headers.multi_items()),
        body=response.content,
        location=response.headers.get("location"),
        set_cookies={name: morsel.value for name, morsel in _set_cookies(response).items()},
    )


def http2_transport_error(exc: BaseException, request: HttpRequest) -> TransportError:
    """Map an httpx/asyncio/ssl failure to a TransportError with the default codes.

    httpx errors are first translated to the standard exception they stand for, then
    `reqflo.http.transport_error` picks the code and message, so both transports agree.
    """
    return transport_error(_standard_exception(exc), request)


def _standard_exception(exc: BaseException) -> BaseException:
    if isinstance(exc, httpx.TimeoutException):
        return TimeoutError(str(exc))
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL | httpx.LocalProtocolError):
        return ValueError(str(exc) or type(exc).__name__)
    if isinstance(exc, httpx.NetworkError | httpx.ProxyError):
        return _ssl_cause(exc) or ConnectionError(str(exc) or type(exc).__name__)
    return exc  # protocol/decoding errors fall through to `invalid-response`


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    """The `ssl.SSLError` behind an httpx network error (httpcore keeps it as the context)."""
    seen: BaseException | None = exc
    for _depth in range(10):
        if seen is None or isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
