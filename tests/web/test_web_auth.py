"""Signing in and out, sessions, CSRF, roles and security headers of the web UI."""

from __future__ import annotations

from datetime import timedelta

import httpx
import sqlalchemy as sa
from playwright.sync_api import Page

from reqflo.store.records import now
from reqflo.store.session_store import IDLE, LIFETIME, WebSessionRow
from reqflo.store.store import token_digest
from web_support import Site, csrf_of, login_nonce, signed_in


def test_pages_redirect_to_sign_in_with_the_page_to_come_back_to(site: Site) -> None:
    answer = httpx.get(f"{site.url}/runs?status=failed")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fruns%3Fstatus%3Dfailed"


def test_signing_in_sets_a_strict_httponly_session_cookie(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        nonce = login_nonce(client)
        answer = client.post(
            "/login", data={"token": site.tokens["viewer"], "login_csrf": nonce, "next": "/runs"}
        )
    assert answer.status_code == 303 and answer.headers["location"] == "/runs"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "reqflo_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert site.tokens["viewer"] not in cookie


def test_a_wrong_token_is_refused_with_the_form_again(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        nonce = login_nonce(client)
        answer = client.post("/login", data={"token": "rqf_wrong", "login_csrf": nonce})
    assert answer.status_code == 401
    assert "unknown or revoked" in answer.text and "reqflo_session" not in str(answer.headers)


def test_the_sign_in_form_needs_its_own_cookie(site: Site) -> None:
    answer = httpx.post(
        f"{site.url}/login", data={"token": site.tokens["admin"], "login_csrf": "forged"}
    )
    assert answer.status_code == 403 and "expired" in answer.text


def test_next_never_leaves_the_site(site: Site) -> None:
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
        with httpx.Client(base_url=site.url) as client:
            nonce = login_nonce(client)
            answer = client.post(
                "/login",
                data={"token": site.tokens["viewer"], "login_csrf": nonce, "next": target},
            )
        assert answer.headers["location"] == "/runs"


def test_sign_out_needs_the_csrf_token_and_ends_the_session(site: Site) -> None:
    with signed_in(site, "viewer") as client:
        page = client.get("/runs")
        assert page.status_code == 200
        refused = client.post("/logout", data={"csrf": "stale"})
        assert refused.status_code == 403 and "CSRF" in refused.text
        foreign = client.post(
            "/logout", data={"csrf": csrf_of(page.text)}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        answer = client.post("/logout", data={"csrf": csrf_of(page.text)})
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        assert client.get("/runs").status_code == 303


def test_revoking_the_token_ends_its_sessions(site: Site) -> None:
    record, token = site.store.create_token("short-lived", "admin")
    site.tokens["short-lived"] = token
    with signed_in(site, "short-lived") as client:
        assert client.get("/runs").status_code == 200
        site.store.revoke_token(record.id)
        assert client.get("/runs").status_code == 303


def age_session(site: Site, client: httpx.Client, column: str, by: timedelta) -> str:
    """Move the client's session `column` back by `by`; the session row's key."""
    digest = token_digest(client.cookies["reqflo_session"])
    with site.store.session() as db:
        db.execute(
            sa.update(WebSessionRow)
            .where(WebSessionRow.sha256 == digest)
            .values({column: now() - by - timedelta(minutes=1)})
        )
    return digest


def test_sessions_end_when_idle_or_too_old_and_opening_one_drops_the_expired(
    site: Site,
) -> None:
    for column, limit in (("last_seen_at", IDLE), ("created_at", LIFETIME)):
        with signed_in(site, "viewer") as client:
            assert client.get("/runs").status_code == 200
            age_session(site, client, column, limit - timedelta(minutes=2))
            assert client.get("/runs").status_code == 200
            age_session(site, client, column, limit)
            assert client.get("/runs").status_code == 303
    with signed_in(site, "viewer") as abandoned:
        stale = age_session(site, abandoned, "last_seen_at", IDLE)
        with signed_in(site, "viewer"), site.store.session() as db:
            assert db.get(WebSessionRow, stale) is None


def test_a_viewer_gets_the_403_page_on_admin_pages(site: Site) -> None:
    with signed_in(site, "viewer") as client:
        answer = client.get("/admin/tokens")
    assert answer.status_code == 403
    assert "needs the admin role" in answer.text and "viewer-token" in answer.text


def test_pages_carry_security_headers_and_are_not_cached(site: Site) -> None:
    with signed_in(site, "viewer") as client:
        answer = client.get("/runs")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"


def test_the_api_keeps_its_bearer_tokens_and_json_errors(site: Site) -> None:
    answer = httpx.get(f"{site.url}/api/v1/runs")
    assert answer.status_code == 401 and answer.json()["detail"]


def test_signing_in_in_a_browser(page_as: object, site: Site, browser: object) -> None:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context()
    page: Page = context.new_page()
    page.goto(f"{site.url}/runs")
    assert page.url.startswith(f"{site.url}/login")
    page.fill("#token", "rqf_wrong")
    page.click("button[type=submit]")
    assert "unknown or revoked" in page.inner_text("[role=alert]")
    page.fill("#token", site.tokens["editor"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/runs")
    assert "editor-token" in page.inner_text("header")
    assert page.locator("nav a[href='/admin/secrets']").count() == 0
    page.click("text=Sign out")
    page.wait_for_url(f"{site.url}/login")
    context.close()


def test_session_cookies_are_secure_when_the_server_says_so(site: Site) -> None:
    from reqflo.cloud.api_deps import Services
    from reqflo.cloud.app import create_app
    from reqflo.cloud.inprocess import InProcessExecutor
    from reqflo.store import StoreSink
    from test_cloud_api import served

    executor = InProcessExecutor(StoreSink(site.store), site.folder)
    app = create_app(Services(store=site.store, executor=executor, data_dir=site.folder))
    app.state.secure_cookies = True
    with served(app) as url, httpx.Client(base_url=url) as client:
        form = client.get("/login")
        nonce = form.cookies["reqflo_login"]  # a browser would only send it back over HTTPS
        answer = client.post(
            "/login",
            data={"token": site.tokens["viewer"], "login_csrf": nonce},
            headers={"Cookie": f"reqflo_login={nonce}"},
        )
    executor.close()
    for response, name in ((form, "reqflo_login"), (answer, "reqflo_session")):
        cookie = next(c for c in response.headers.get_list("set-cookie") if f"{name}=" in c)
        assert "Secure" in cookie


def test_https_requests_get_secure_cookies() -> None:
    from fastapi import FastAPI
    from starlette.requests import Request

    from reqflo.cloud.web.session import secure_cookies

    app = FastAPI()
    for scheme, expected in (("https", True), ("http", False)):
        scope = {"type": "http", "scheme": scheme, "app": app, "headers": [], "path": "/",
                 "server": ("reqflo.test", 443), "query_string": b"", "method": "GET"}  # fmt: skip
        assert secure_cookies(Request(scope)) is expected
