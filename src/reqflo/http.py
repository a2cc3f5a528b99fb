"""HTTP exchange types, the swappable transport protocol and the default aiohttp transport.

Owns `HttpRequest`/`HttpResponse` (plain frozen data, already rendered: no templates),
`CookieStore` (the cookies of one run instance), the `Transport` protocol the engine sends
through, `TransportError` with its stable codes, and `AiohttpTransport`, the default.

`AiohttpTransport` keeps one shared `aiohttp.ClientSession` (a keep-alive connection
pool sized to the run's concurrency) for the whole run. The session's own cookie jar is a
`DummyCookieJar`: cookies belong to run instances, not to the pool. Each instance gets its
own `CookieStore` from `new_cookie_store()`; the transport sends the matching cookies with
every request and stores every `Set-Cookie`, including those on redirect hops. Redirects
are followed by the transport itself (301/302/303 become a body-less GET, 307/308 keep
method and body, at most `max_redirects` hops), so cookies and the final URL are right;
credentials (`Authorization`, an explicit `Cookie` header) are dropped when a redirect
leaves the original origin.

Error codes raised as `TransportError.code`: `connection-error`, `timeout`, `tls-error`,
`too-many-redirects`, `invalid-response`, `invalid-request`.

Limitations: aiohttp speaks HTTP/1.1 only, so HTTP/2 is not supported by the default
transport (it was chosen because it is far faster than the alternatives for this load);
a transport speaking HTTP/2 can be plugged in through the `Transport` protocol.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any, NamedTuple, Protocol

import aiohttp
from yarl import URL

from reqflo.conversion import nests_deeper_than

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_JSON_DEPTH = 128  # deeper bodies break JSONPath's `..` and serialisation (recursion)
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_BODY_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding"})


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    timeout_s: float = 30.0
    follow_redirects: bool = True
    verify_tls: bool = True
    max_redirects: int = 10


@dataclass(frozen=True)
class HttpResponse:
    """The final response. `cookies` holds every cookie set along the way (redirect hops
    included), name → value; `url` is the final URL after redirects."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    url: str
    elapsed_ms: float
    http_version: str = "1.1"
    cookies: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitively."""
        values = self._by_name().get(name.lower())
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        return list(self._by_name().get(name.lower(), ()))

    def _by_name(self) -> dict[str, list[str]]:
        """Lower-case header name → its values in order (built once)."""
        index: dict[str, list[str]] | None = self.__dict__.get("_by_name_index")
        if index is None:
            index = {}
            for key, value in self.headers:
                index.setdefault(key.lower(), []).append(value)
            self.__dict__["_by_name_index"] = index
        return index

    @property
    def text(self) -> str:
        """The body decoded with the response's charset (computed once)."""
        cached = self.__dict__.get("_text")
        if cached is None:
            cached = self.__dict__["_text"] = _decoded(self.body, self._charset())
        return cached

    @property
    def json(self) -> Any:
        """The parsed JSON body (parsed once); raises ValueError when the body is not JSON."""
        if "_json" not in self.__dict__:
            text = self.text
            parsed = json.loads(text)
            if _may_nest_deeply(text) and nests_deeper_than(parsed, MAX_JSON_DEPTH):
                raise ValueError(f"it nests deeper than {MAX_JSON_DEPTH} levels")
            self.__dict__["_json"] = parsed
        return self.__dict__["_json"]

    def _charset(self) -> str:
        ctype = self.header("content-type") or ""
        for piece in ctype.split(";")[1:]:
            key, _, value = piece.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"')
        return "utf-8"


def _may_nest_deeply(text: str) -> bool:
    """Cheap test first: fewer openers than the limit cannot nest deeper than it."""
    return text.count("{") + text.count("[") > MAX_JSON_DEPTH


def _decoded(body: bytes, charset: str) -> str:
    try:
        return body.decode(charset, errors="replace")
    except LookupError:  # an unknown or non-text charset ("nope", "base64"): read UTF-8
        return body.decode("utf-8", errors="replace")


class TransportError(Exception):
    """A request could not complete; `code` is a stable step error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class CookieStore(Protocol):
    """The cookies of one run instance; made by the transport that reads and writes it."""

    def clear(self) -> None: ...


class Transport(Protocol):
    """Sends rendered requests. One transport serves a whole run (shared pool); cookie
    isolation comes from the per-instance `CookieStore` passed to `send`."""

    def new_cookie_store(self) -> CookieStore:
        """An empty cookie store for a new run instance."""
        ...

    async def send(self, request: HttpRequest, cookies: CookieStore) -> HttpResponse:
        """Send one request with the instance's cookies; raise TransportError on failure."""
        ...

    async def close(self) -> None: ...


class AiohttpCookieStore:
    """A per-instance `aiohttp.CookieJar` (IP hosts allowed, values sent unquoted)."""

    def __init__(self) -> None:
        self._jar: aiohttp.CookieJar | None = None  # made on first use: most runs set none

    @property
    def jar(self) -> aiohttp.CookieJar:
        if self._jar is None:
            self._jar = aiohttp.CookieJar(unsafe=True, quote_cookie=False)
        return self._jar

    def clear(self) -> None:
        if self._jar is not None:
            self._jar.clear()

    def header_for(self, url: URL) -> str | None:
        if self._jar is None:
            return None
        found = self._jar.filter_cookies(url)
        if not found:
            return None
        return "; ".join(f"{name}={morsel.value}" for name, morsel in found.items())

    def update(self, cookies: SimpleCookie, url: URL) -> None:
        if cookies:
            self.jar.update_cookies(cookies, url)


class AiohttpTransport:
    """The default transport: one shared aiohttp session for the whole run.

    Use `async with AiohttpTransport(concurrency=20) as transport:` or call `close()`.
    `ssl_context` customises verification (a private CA); `verify_tls=False` on a request
    disables it for that request.
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
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def __aenter__(self) -> AiohttpTransport:
        self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def new_cookie_store(self) -> AiohttpCookieStore:
        return AiohttpCookieStore()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.concurrency + 4,
                keepalive_timeout=self.keepalive_timeout,
                ssl=self.ssl_context or True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"User-Agent": self.user_agent},
                auto_decompress=True,
            )
        return self._session

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return timeout

    async def send(self, request: HttpRequest, cookies: CookieStore) -> HttpResponse:
        if not isinstance(cookies, AiohttpCookieStore):
            raise TypeError("AiohttpTransport needs a cookie store from new_cookie_store()")
        started = time.perf_counter()
        try:
            return await self._follow(request, cookies, started)
        except TransportError:
            raise
        except Exception as exc:  # every client failure becomes a coded TransportError
            raise transport_error(exc, request) from exc

    async def _follow(
        self, request: HttpRequest, cookies: AiohttpCookieStore, started: float
    ) -> HttpResponse:
        session = self._open()

        async def exchange(hop: Hop) -> Exchanged:
            return await self._exchange(session, hop, request, cookies)

        return await follow_redirects(request, exchange, started)

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        hop: Hop,
        request: HttpRequest,
        cookies: AiohttpCookieStore,
    ) -> Exchanged:
        headers: tuple[tuple[str, str], ...] | list[tuple[str, str]] = hop.headers
        jar_cookies = cookies.header_for(hop.url)
        if jar_cookies:
            headers = merge_cookie_header(list(headers), jar_cookies)
        async with session.request(
            hop.method,
            hop.url,
            headers=headers,
            data=hop.body,
            allow_redirects=False,
            timeout=self._timeout(request.timeout_s),
            ssl=request.verify_tls,
        ) as resp:
            body = await resp.read()
            received = resp.headers
            return Exchanged(
                resp.status,
                resp.reason or "",
                _version(resp.version),
                tuple(received.items()),
                body,
                received.get("Location"),
                _stored_cookies(resp, cookies) if "Set-Cookie" in received else {},
            )


def _stored_cookies(resp: aiohttp.ClientResponse, cookies: AiohttpCookieStore) -> dict[str, str]:
    """The response's cookies, name → value, once stored in the instance's cookie store."""
    set_cookies = resp.cookies
    cookies.update(set_cookies, resp.url)
    return {name: morsel.value for name, morsel in set_cookies.items()}


_VERSIONS = {aiohttp.HttpVersion11: "1.1", aiohttp.HttpVersion10: "1.0"}


def _version(version: aiohttp.HttpVersion | None) -> str:
    if version is None:
        return "1.1"
    return _VERSIONS.get(version) or f"{version.major}.{version.minor}"


class Exchanged(NamedTuple):
    """One hop's answer, as every transport reports it to `follow_redirects` (a named
    tuple: one is made for every request)."""

    status: int
    reason: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    location: str | None
    set_cookies: dict[str, str]


async def follow_redirects(
    request: HttpRequest,
    exchange: Callable[[Hop], Awaitable[Exchanged]],
    started: float,
) -> HttpResponse:
    """Send hop after hop (see `Hop.redirect`) until a final answer; shared by transports."""
    current = first_hop(request)
    origin = current.url.origin()
    set_cookies: dict[str, str] = {}
    for _hop in range(request.max_redirects + 1):
        got = await exchange(current)
        set_cookies.update(got.set_cookies)
        if not redirects_on(request, got):
            return final_response(got, current, started, set_cookies)
        current = current.redirect(got.status, current.url.join(URL(got.location or "")), origin)
    raise TransportError(
        "too-many-redirects",
        f"{request.method} {request.url}: more than {request.max_redirects} redirects",
    )


def first_hop(request: HttpRequest) -> Hop:
    return Hop(request.method.upper(), URL(request.url), request.headers, request.body)


def redirects_on(request: HttpRequest, got: Exchanged) -> bool:
    """True when `got` sends the request on to another location."""
    return got.location is not None and got.status in REDIRECT_STATUSES and request.follow_redirects


def final_response(
    got: Exchanged, hop: Hop, started: float, set_cookies: dict[str, str]
) -> HttpResponse:
    return HttpResponse(
        status=got.status,
        reason=got.reason,
        headers=got.headers,
        body=got.body,
        url=str(hop.url),
        elapsed_ms=(time.perf_counter() - started) * 1000,
        http_version=got.http_version,
        cookies=set_cookies,
    )


class Hop(NamedTuple):
    """One request of a redirect chain (shared by every transport; a named tuple, as one
    is made for every request)."""

    method: str
    url: URL
    headers: tuple[tuple[str, str], ...]
    body: bytes | None

    def redirect(self, status: int, target: URL, origin: URL) -> Hop:
        """The next hop: 301/302/303 turn into a body-less GET (HEAD stays HEAD)."""
        method, body, headers = self.method, self.body, self.headers
        if status in {301, 302, 303} and method != "HEAD":
            method, body = "GET", None
            headers = tuple((k, v) for k, v in headers if k.lower() not in _BODY_HEADERS)
        if target.origin() != origin:
            headers = tuple((k, v) for k, v in headers if k.lower() not in _CREDENTIAL_HEADERS)
        return Hop(method, target, headers, body)


def merge_cookie_header(headers: list[tuple[str, str]], jar_cookies: str) -> list[tuple[str, str]]:
    """Append the store's cookies to an explicit `Cookie` header, or add one."""
    for i, (key, value) in enumerate(headers):
        if key.lower() == "cookie":
            headers[i] = (key, f"{value}; {jar_cookies}")
            return headers
    headers.append(("Cookie", jar_cookies))
    return headers


def transport_error(exc: BaseException, request: HttpRequest) -> TransportError:
    """Map an aiohttp/asyncio/ssl failure to a TransportError with a stable code."""
    where = f"{request.method} {request.url}"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return TransportError("tls-error", f"{where}: TLS failure: {exc}")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return TransportError(
            "timeout", f"{where}: no complete response within {request.timeout_s:g}s"
        )
    if isinstance(exc, aiohttp.InvalidURL | ValueError):
        return TransportError("invalid-request", f"{where}: invalid request: {exc}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransportError("connection-error", f"{where}: cannot connect: {exc.strerror}")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError | OSError):
        return TransportError("connection-error", f"{where}: connection failed: {exc}")
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        return TransportError("invalid-response", f"{where}: invalid response: {exc}")
    if isinstance(exc, aiohttp.ClientError):
        return TransportError("connection-error", f"{where}: {type(exc).__name__}: {exc}")
    return TransportError("invalid-response", f"{where}: {type(exc).__name__}: {exc}")
