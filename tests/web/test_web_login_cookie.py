"""The sign-in form's double-submit cookie (`reqflo_login`) is deleted after a successful
sign-in with the very attributes it was set with — Path=/login, HttpOnly,
SameSite=strict, and Secure when the session is secure — so that the deletion matches the
cookie it removes (and stays as strict as the cookie itself).

Against a real server (uvicorn on 127.0.0.1, which trusts `X-Forwarded-Proto` from
loopback as `reqflo server` does): over plain HTTP, and as behind a TLS proxy."""

from __future__ import annotations

import httpx
import pytest

from web_support import Site

Attributes = dict[str, str]


def attributes(cookie: str) -> tuple[str, Attributes]:
    """`name=value; Path=/x; HttpOnly` → (`name=value`, {'path': '/x', 'httponly': ''})."""
    first, *rest = (part.strip() for part in cookie.split(";"))
    found: Attributes = {}
    for part in rest:
        key, _, value = part.partition("=")
        found[key.strip().lower()] = value.strip()
    return first, found


def login_cookies(site: Site, headers: dict[str, str]) -> tuple[Attributes, str, Attributes]:
    """The form's `reqflo_login` attributes, then the sign-in's Set-Cookie deleting it
    (its `name=value` and attributes)."""
    with httpx.Client(base_url=site.url, headers=headers, timeout=30) as client:
        form = client.get("/login")
        nonce = form.cookies["reqflo_login"]  # sent back by hand: a Secure cookie over http
        answer = client.post("/login", data={"token": site.tokens["viewer"], "login_csrf": nonce},
                             headers={"Cookie": f"reqflo_login={nonce}"})  # fmt: skip
    assert answer.status_code == 303, answer.text
    [set_by_form] = [c for c in form.headers.get_list("set-cookie") if "reqflo_login=" in c]
    [deleting] = [c for c in answer.headers.get_list("set-cookie") if "reqflo_login=" in c]
    deleted, removal = attributes(deleting)
    return attributes(set_by_form)[1], deleted, removal


LIFETIME = ("max-age", "expires")  # the only attributes a deletion changes


@pytest.mark.parametrize(
    ("headers", "secure"),
    [({}, False), ({"X-Forwarded-Proto": "https"}, True)],
    ids=["http", "behind-tls-proxy"],
)
def test_the_login_cookie_is_deleted_with_the_attributes_it_was_set_with(
    site: Site, headers: dict[str, str], secure: bool
) -> None:
    set_with, deleted, removal = login_cookies(site, headers)
    assert ("secure" in set_with) is secure, set_with
    assert set_with["path"] == "/login" and "httponly" in set_with
    assert set_with["samesite"].lower() == "strict"
    assert deleted in ('reqflo_login=""', "reqflo_login=")
    assert removal["max-age"] == "0"
    kept = {k: v.lower() for k, v in removal.items() if k not in LIFETIME}
    assert kept == {k: v.lower() for k, v in set_with.items() if k not in LIFETIME}
