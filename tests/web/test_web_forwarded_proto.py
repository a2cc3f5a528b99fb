"""The session cookie is `Secure` behind a TLS-terminating reverse proxy on the same host
(docs/web-ui.md): `reqflo server` runs uvicorn with its proxy headers on, trusting
`X-Forwarded-Proto` only from the loopback addresses (uvicorn's `forwarded_allow_ips`
default, `127.0.0.1,::1`, unless FORWARDED_ALLOW_IPS says otherwise), so such a request
has the scheme `https` and cloud.web.session.secure_cookies marks the cookies Secure.

Against the real `reqflo server` subprocess: a sign-in from 127.0.0.1 with
`X-Forwarded-Proto: https` gets Secure cookies; without the header, with `http`, or with
the header from another address (127.0.0.2, not a trusted proxy) it does not."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from typer.testing import CliRunner

from reqflo.cli import app
from test_cloud_support import ServerProcess


@dataclass(frozen=True)
class Server:
    url: str
    token: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("forwarded")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("FORWARDED_ALLOW_IPS", raising=False)  # uvicorn's default trust
        patch.delenv("REQFLO_SECURE_COOKIES", raising=False)
        process = ServerProcess(root / "server", None, {"REQFLO_HOME": str(root / "home")})
    try:
        made = CliRunner().invoke(app, ["token", "create", "--name", "proxy", "--role",
                                        "viewer", "--data-dir", str(root / "server")])  # fmt: skip
        assert made.exit_code == 0, made.output
        yield Server(process.url, made.stdout.strip())
    finally:
        process.stop()


def cookies_of(server: Server, headers: dict[str, str], source: str = "127.0.0.1") -> list[str]:
    """The cookies set by the sign-in form (`reqflo_login`) and by a successful sign-in
    (`reqflo_session`), both requested from `source` with `headers`."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=server.url, transport=transport, headers=headers) as client:
        form = client.get("/login")
        nonce = form.cookies["reqflo_login"]  # sent back by hand: a Secure cookie over http
        answer = client.post("/login", data={"token": server.token, "login_csrf": nonce},
                             headers={"Cookie": f"reqflo_login={nonce}"})  # fmt: skip
    assert answer.status_code == 303, answer.text
    login = form.headers.get_list("set-cookie")
    session = [c for c in answer.headers.get_list("set-cookie") if c.startswith("reqflo_session=")]
    assert len(login) == 1 and login[0].startswith("reqflo_login=") and len(session) == 1
    return [login[0], session[0]]


def secure(cookie: str) -> bool:
    return "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_a_same_host_proxy_saying_https_gets_secure_cookies(server: Server) -> None:
    found = cookies_of(server, {"X-Forwarded-Proto": "https"})
    assert all(secure(c) for c in found), found
    session = found[1].lower()
    assert "httponly" in session and "samesite=strict" in session and "path=/" in session


@pytest.mark.parametrize("headers", [{}, {"X-Forwarded-Proto": "http"}], ids=["none", "http"])
def test_plain_http_gets_no_secure_cookies(server: Server, headers: dict[str, str]) -> None:
    found = cookies_of(server, headers)
    assert not any(secure(c) for c in found), found


def test_the_header_from_an_untrusted_address_is_ignored(server: Server) -> None:
    found = cookies_of(server, {"X-Forwarded-Proto": "https"}, source="127.0.0.2")
    assert not any(secure(c) for c in found), found
