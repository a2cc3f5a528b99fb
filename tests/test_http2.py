"""The HTTP/2 transport against a real HTTP/2 server (hypercorn, TLS + ALPN) on 127.0.0.1.

The server runs in the test's own event loop on a socket the test binds (ephemeral port)
and serves a tiny ASGI app whose `/echo` reports what it received, including the HTTP
version hypercorn saw, so every test can prove the exchange really was HTTP/2.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypercorn.asyncio import serve
from hypercorn.config import Config

from reqflo.http import HttpRequest, TransportError
from reqflo.http2 import Http2Transport

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Server:
    base: str  # https://127.0.0.1:PORT
    plain: str  # http://127.0.0.1:PORT2 (same app, no TLS)
    port: int
    cert: Path
    client_ports: set[int]
    release: asyncio.Event


class _App:
    """A tiny ASGI app: /echo, /set?v=, /redirect/STATUS, /bounce?to=, /loop, /slow."""

    def __init__(self) -> None:
        self.release = asyncio.Event()  # set at teardown: /slow returns then
        self.client_ports: set[int] = set()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = await _read_body(receive)
        self.client_ports.add(scope["client"][1])
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        path = scope["path"]
        if path == "/echo":
            await _respond(send, 200, json.dumps(_echo(scope, headers, body)).encode())
        elif path == "/set":
            await _respond(
                send, 200, b"{}", [("set-cookie", f"session={query.get('v', 's1')}; Path=/")]
            )
        elif path.startswith("/redirect/"):
            hop = [("location", "/echo"), ("set-cookie", "hop=h1; Path=/")]
            await _respond(send, int(path.rsplit("/", 1)[1]), b"", hop)
        elif path == "/bounce":
            await _respond(send, 307, b"", [("location", query["to"])])
        elif path == "/loop":
            await _respond(send, 302, b"", [("location", "/loop")])
        elif path == "/slow":
            await self.release.wait()
            await _respond(send, 200, b"late")
        else:
            await _respond(send, 404, b"")


def _echo(scope: dict[str, Any], headers: dict[str, str], body: bytes) -> dict[str, Any]:
    return {
        "http_version": scope["http_version"],
        "method": scope["method"],
        "body": body.decode(),
        "cookie": headers.get("cookie"),
        "auth": headers.get("authorization"),
        "content_type": headers.get("content-type"),
    }


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[str, str]] | None = None
) -> None:
    pairs = [("content-type", "application/json"), *(headers or [])]
    raw = [(k.encode(), v.encode()) for k, v in pairs]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _write_self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reqflo-h2-test")])
    now = datetime.now(UTC)
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _listening_fd() -> tuple[str, int]:
    """A listening socket on an ephemeral 127.0.0.1 port, handed to hypercorn as fd://."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = int(sock.getsockname()[1])
    return f"fd://{sock.detach()}", port


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    cert, key = _write_self_signed(tmp_path)
    (secure, port), (insecure, plain_port) = _listening_fd(), _listening_fd()
    config = Config()
    config.bind, config.insecure_bind = [secure], [insecure]
    config.certfile, config.keyfile = str(cert), str(key)
    config.graceful_timeout = 2.0
    config.accesslog = None
    app, stop = _App(), asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait, mode="asgi"))
    try:
        yield Server(
            f"https://127.0.0.1:{port}",
            f"http://127.0.0.1:{plain_port}",
            port,
            cert,
            app.client_ports,
            app.release,
        )
    finally:
        app.release.set()
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def transport(server: Server) -> AsyncIterator[Http2Transport]:
    trusting = ssl.create_default_context(cafile=str(server.cert))
    async with Http2Transport(concurrency=4, ssl_context=trusting) as transport:
        yield transport


async def test_request_goes_over_http2(server: Server, transport: Http2Transport) -> None:
    response = await transport.send(
        HttpRequest("POST", f"{server.base}/echo", body=b"hi"), transport.new_cookie_store()
    )
    assert response.status == 200
    assert response.http_version == "2"
    assert response.json["http_version"] == "2"
    assert response.json["method"] == "POST" and response.json["body"] == "hi"
    assert response.header("Content-Type") == "application/json"
    assert response.url == f"{server.base}/echo"
    assert response.reason == "OK"
    assert response.elapsed_ms > 0


async def test_concurrent_requests_share_one_connection(
    server: Server, transport: Http2Transport
) -> None:
    store = transport.new_cookie_store()
    await transport.send(HttpRequest("GET", f"{server.base}/echo"), store)
    responses = await asyncio.gather(
        *(transport.send(HttpRequest("GET", f"{server.base}/echo"), store) for _ in range(10))
    )
    assert {r.json["http_version"] for r in responses} == {"2"}
    assert len(server.client_ports) == 1


async def test_plain_http_falls_back_to_http11(server: Server, transport: Http2Transport) -> None:
    response = await transport.send(
        HttpRequest("GET", f"{server.plain}/echo"), transport.new_cookie_store()
    )
    assert response.http_version == "1.1"
    assert response.json["http_version"] == "1.1"


async def test_cookies_are_kept_per_store(server: Server, transport: Http2Transport) -> None:
    first, second = transport.new_cookie_store(), transport.new_cookie_store()
    set_response = await transport.send(HttpRequest("GET", f"{server.base}/set?v=one"), first)
    await transport.send(HttpRequest("GET", f"{server.base}/set?v=two"), second)
    seen_first = await transport.send(HttpRequest("GET", f"{server.base}/echo"), first)
    seen_second = await transport.send(HttpRequest("GET", f"{server.base}/echo"), second)
    fresh = await transport.send(
        HttpRequest("GET", f"{server.base}/echo"), transport.new_cookie_store()
    )
    assert set_response.cookies == {"session": "one"}
    assert seen_first.json["cookie"] == "session=one"
    assert seen_second.json["cookie"] == "session=two"
    assert fresh.json["cookie"] is None
    first.clear()
    cleared = await transport.send(HttpRequest("GET", f"{server.base}/echo"), first)
    assert cleared.json["cookie"] is None


async def test_explicit_cookie_header_is_merged_with_the_store(
    server: Server, transport: Http2Transport
) -> None:
    store = transport.new_cookie_store()
    await transport.send(HttpRequest("GET", f"{server.base}/set?v=jar"), store)
    response = await transport.send(
        HttpRequest("GET", f"{server.base}/echo", headers=(("Cookie", "extra=1"),)), store
    )
    assert response.json["cookie"] == "extra=1; session=jar"


@pytest.mark.parametrize("status", [301, 302, 303])
async def test_redirect_to_get_drops_the_body(
    server: Server, transport: Http2Transport, status: int
) -> None:
    response = await transport.send(
        HttpRequest(
            "POST",
            f"{server.base}/redirect/{status}",
            headers=(("Content-Type", "text/plain"),),
            body=b"payload",
        ),
        transport.new_cookie_store(),
    )
    assert response.status == 200
    assert response.url == f"{server.base}/echo"
    assert response.json == {
        "http_version": "2",
        "method": "GET",
        "body": "",
        "cookie": "hop=h1",
        "auth": None,
        "content_type": None,
    }
    assert response.cookies == {"hop": "h1"}


@pytest.mark.parametrize("status", [307, 308])
async def test_redirect_keeps_method_and_body(
    server: Server, transport: Http2Transport, status: int
) -> None:
    response = await transport.send(
        HttpRequest("PUT", f"{server.base}/redirect/{status}", body=b"payload"),
        transport.new_cookie_store(),
    )
    assert response.json["method"] == "PUT"
    assert response.json["body"] == "payload"
    assert response.json["cookie"] == "hop=h1"


async def test_redirect_not_followed_when_disabled(
    server: Server, transport: Http2Transport
) -> None:
    response = await transport.send(
        HttpRequest("GET", f"{server.base}/redirect/302", follow_redirects=False),
        transport.new_cookie_store(),
    )
    assert response.status == 302
    assert response.header("location") == "/echo"


async def test_cross_origin_redirect_drops_credentials(
    server: Server, transport: Http2Transport
) -> None:
    target = f"https://localhost:{server.port}/echo"  # same server, another origin
    response = await transport.send(
        HttpRequest(
            "GET",
            f"{server.base}/bounce?to={target}",
            headers=(("Authorization", "Bearer t"), ("Cookie", "mine=1")),
        ),
        transport.new_cookie_store(),
    )
    assert response.url == target
    assert response.json["auth"] is None and response.json["cookie"] is None


async def test_too_many_redirects(server: Server, transport: Http2Transport) -> None:
    with pytest.raises(TransportError) as caught:
        await transport.send(
            HttpRequest("GET", f"{server.base}/loop", max_redirects=3),
            transport.new_cookie_store(),
        )
    assert caught.value.code == "too-many-redirects"


async def test_timeout_leaves_the_pool_usable(server: Server, transport: Http2Transport) -> None:
    store = transport.new_cookie_store()
    with pytest.raises(TransportError) as caught:
        await transport.send(HttpRequest("GET", f"{server.base}/slow", timeout_s=0.2), store)
    assert caught.value.code == "timeout"
    assert "0.2s" in str(caught.value)
    server.release.set()
    after = await transport.send(HttpRequest("GET", f"{server.base}/echo"), store)
    assert after.http_version == "2"


async def test_tls_verification_modes(server: Server) -> None:
    url = f"{server.base}/echo"
    async with Http2Transport() as default:
        with pytest.raises(TransportError) as caught:
            await default.send(HttpRequest("GET", url), default.new_cookie_store())
        insecure = await default.send(
            HttpRequest("GET", url, verify_tls=False), default.new_cookie_store()
        )
    trusting = ssl.create_default_context(cafile=str(server.cert))
    async with Http2Transport(ssl_context=trusting) as private_ca:
        trusted = await private_ca.send(HttpRequest("GET", url), private_ca.new_cookie_store())
    assert caught.value.code == "tls-error"
    assert "certificate" in str(caught.value).lower()
    assert insecure.http_version == "2" and insecure.json["http_version"] == "2"
    assert trusted.http_version == "2" and trusted.json["http_version"] == "2"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused() -> None:
    async with Http2Transport() as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(
                HttpRequest("GET", f"https://127.0.0.1:{_closed_port()}/"),
                transport.new_cookie_store(),
            )
    assert caught.value.code == "connection-error"


async def test_garbage_response_is_invalid_response() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with Http2Transport() as transport:
            with pytest.raises(TransportError) as caught:
                await transport.send(
                    HttpRequest("GET", f"http://127.0.0.1:{port}/"),
                    transport.new_cookie_store(),
                )
    finally:
        listener.close()
        await listener.wait_closed()
    assert caught.value.code == "invalid-response"


async def test_unsupported_url_is_invalid_request() -> None:
    async with Http2Transport() as transport:
        with pytest.raises(TransportError) as caught:
            await transport.send(
                HttpRequest("GET", "ftp://127.0.0.1/x"), transport.new_cookie_store()
            )
    assert caught.value.code == "invalid-request"


async def test_foreign_cookie_store_is_rejected() -> None:
    class Foreign:
        def clear(self) -> None: ...

    async with Http2Transport() as transport:
        with pytest.raises(TypeError):
            await transport.send(HttpRequest("GET", "https://127.0.0.1:1/"), Foreign())
