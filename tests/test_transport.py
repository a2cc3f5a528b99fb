"""The default aiohttp transport against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from engine_helpers import serve
from reqflo.http import AiohttpTransport, HttpRequest, TransportError


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    async with AiohttpTransport(concurrency=4) as transport:
        yield transport


def _app() -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "method": request.method,
                "body": (await request.read()).decode(),
                "cookie": request.headers.get("Cookie"),
                "auth": request.headers.get("Authorization"),
                "content_type": request.headers.get("Content-Type"),
            }
        )

    async def set_cookie(request: web.Request) -> web.Response:
        response = web.json_response({"ok": True})
        response.set_cookie("session", request.query.get("v", "s1"))
        return response

    async def redirect(request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        response = web.Response(status=status, headers={"Location": "/echo"})
        response.set_cookie("hop", "h1")
        return response

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/set", set_cookie)
    app.router.add_route("*", "/redirect/{status}", redirect)
    app.router.add_get("/loop", loop)
    app.router.add_get("/slow", slow)
    return app


async def test_get_returns_status_headers_body_and_version(transport: AiohttpTransport) -> None:
    async with serve(_app()) as base:
        response = await transport.send(
            HttpRequest("GET", f"{base}/echo"), transport.new_cookie_store()
        )
    assert response.status == 200
    assert response.json["method"] == "GET"
    assert response.header("content-type") == "application/json; charset=utf-8"
    assert response.url == f"{base}/echo"
    assert response.http_version == "1.1"
    assert response.elapsed_ms > 0


async def test_cookies_are_kept_per_store(transport: AiohttpTransport) -> None:
    first, second = transport.new_cookie_store(), transport.new_cookie_store()
    async with serve(_app()) as base:
        set_response = await transport.send(HttpRequest("GET", f"{base}/set?v=one"), first)
        await transport.send(HttpRequest("GET", f"{base}/set?v=two"), second)
        seen_first = await transport.send(HttpRequest("GET", f"{base}/echo"), first)
        seen_second = await transport.send(HttpRequest("GET", f"{base}/echo"), second)
        fresh = await transport.send(
            HttpRequest("GET", f"{base}/echo"), transport.new_cookie_store()
        )
    assert set_response.cookies == {"session": "one"}
    assert seen_first.json["cookie"] == "session=one"
    assert seen_second.json["cookie"] == "session=two"
    assert fresh.json["cookie"] is None


async def test_explicit_cookie_header_is_merged_with_the_store(
    transport: AiohttpTransport,
) -> None:
    store = transport.new_cookie_store()
    async with serve(_app()) as base:
        await transport.send(HttpRequest("GET", f"{base}/set?v=jar"), store)
        response = await transport.send(
            HttpRequest("GET", f"{base}/echo", headers=(("Cookie", "extra=1"),)), store
        )
    assert response.json["cookie"] == "extra=1; session=jar"


@pytest.mark.parametrize("status", [301, 302, 303])
async def test_redirect_to_get_drops_the_body(transport: AiohttpTransport, status: int) -> None:
    store = transport.new_cookie_store()
    request = HttpRequest("POST", "", headers=(("Content-Type", "text/plain"),), body=b"payload")
    async with serve(_app()) as base:
        response = await transport.send(
            HttpRequest(**{**request.__dict__, "url": f"{base}/redirect/{status}"}), store
        )
    assert response.status == 200
    assert response.url == f"{base}/echo"
    assert response.json == {
        "method": "GET",
        "body": "",
        "cookie": "hop=h1",
        "auth": None,
        "content_type": None,
    }
    assert response.cookies == {"hop": "h1"}


@pytest.mark.parametrize("status", [307, 308])
async def test_redirect_keeps_method_and_body(transport: AiohttpTransport, status: int) -> None:
    async with serve(_app()) as base:
        response = await transport.send(
            HttpRequest("PUT", f"{base}/redirect/{status}", body=b"payload"),
            transport.new_cookie_store(),
        )
    assert response.json["method"] == "PUT"
    assert response.json["body"] == "payload"
    assert response.json["cookie"] == "hop=h1"


async def test_redirect_not_followed_when_disabled(transport: AiohttpTransport) -> None:
    async with serve(_app()) as base:
        response = await transport.send(
            HttpRequest("GET", f"{base}/redirect/302", follow_redirects=False),
            transport.new_cookie_store(),
        )
    assert response.status == 302
    assert response.header("location") == "/echo"


async def test_cross_origin_redirect_drops_credentials(transport: AiohttpTransport) -> None:
    async with serve(_app()) as target:

        async def bounce(request: web.Request) -> web.Response:
            raise web.HTTPTemporaryRedirect(f"{target}/echo")

        other = web.Application()
        other.router.add_get("/bounce", bounce)
        async with serve(other) as origin:
            response = await transport.send(
                HttpRequest("GET", f"{origin}/bounce", headers=(("Authorization", "Bearer t"),)),
                transport.new_cookie_store(),
            )
    assert response.url == f"{target}/echo"
    assert response.json["auth"] is None


async def test_too_many_redirects(transport: AiohttpTransport) -> None:
    async with serve(_app()) as base:
        with pytest.raises(TransportError) as caught:
            await transport.send(
                HttpRequest("GET", f"{base}/loop", max_redirects=3), transport.new_cookie_store()
            )
    assert caught.value.code == "too-many-redirects"


async def test_timeout(transport: AiohttpTransport) -> None:
    async with serve(_app()) as base:
        with pytest.raises(TransportError) as caught:
            await transport.send(
                HttpRequest("GET", f"{base}/slow", timeout_s=0.2), transport.new_cookie_store()
            )
    assert caught.value.code == "timeout"
    assert "0.2s" in str(caught.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused(transport: AiohttpTransport) -> None:
    with pytest.raises(TransportError) as caught:
        await transport.send(
            HttpRequest("GET", f"http://127.0.0.1:{_closed_port()}/"), transport.new_cookie_store()
        )
    assert caught.value.code == "connection-error"


async def test_garbage_response_is_invalid_response(transport: AiohttpTransport) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TransportError) as caught:
            await transport.send(
                HttpRequest("GET", f"http://127.0.0.1:{port}/"), transport.new_cookie_store()
            )
    finally:
        server.close()
        await server.wait_closed()
    assert caught.value.code == "invalid-response"


async def test_foreign_cookie_store_is_rejected(transport: AiohttpTransport) -> None:
    class Foreign:
        def clear(self) -> None: ...

    with pytest.raises(TypeError):
        await transport.send(HttpRequest("GET", "http://127.0.0.1:1/"), Foreign())


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key) made with `cryptography`."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reqflo-test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls_verification_and_verify_tls_false(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    runner = web.AppRunner(_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = runner.addresses[0][1]
    url = f"https://127.0.0.1:{port}/echo"
    trusting = ssl.create_default_context(cafile=str(cert))
    try:
        async with AiohttpTransport() as default, AiohttpTransport(ssl_context=trusting) as ca:
            with pytest.raises(TransportError) as caught:
                await default.send(HttpRequest("GET", url), default.new_cookie_store())
            insecure = await default.send(
                HttpRequest("GET", url, verify_tls=False), default.new_cookie_store()
            )
            trusted = await ca.send(HttpRequest("GET", url), ca.new_cookie_store())
    finally:
        await runner.cleanup()
    assert caught.value.code == "tls-error"
    assert insecure.status == 200 and trusted.status == 200
