"""The Cloud Runner's web UI: server-rendered pages (Jinja2) with a little htmx.

Modules:
- `session`         — sign-in sessions (cookie), page/form role dependencies, CSRF.
- `templating`      — the Jinja2 environment, display filters, `render`.
- `pages_auth`      — /login, /logout, /.
- `pages_runs`      — runs list, run detail with evidence, diff, rerun, cancel.
- `pages_catalog`   — journeys, artifacts (compiled plans), environments.
- `pages_schedules` — schedules.
- `pages_admin`     — tokens, and what the admin pages share.
- `pages_secrets`   — Admin → Secrets.  `pages_runners` — Admin → Runners.

`mount(app)` adds the pages (kept out of the OpenAPI schema), /static, the error pages
(sign-in redirect, 403, 404) and security headers on every page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from reqflo.cloud.web import (
    pages_admin,
    pages_auth,
    pages_catalog,
    pages_runners,
    pages_runs,
    pages_schedules,
    pages_secrets,
)
from reqflo.cloud.web.session import CsrfRefused, RoleNeeded, SignInNeeded, current
from reqflo.cloud.web.templating import render

STATIC = Path(__file__).parent / "static"
PAGES = (
    pages_auth,
    pages_runs,
    pages_catalog,
    pages_schedules,
    pages_admin,
    pages_secrets,
    pages_runners,
)
NOT_PAGES = ("/api/", "/docs", "/redoc", "/openapi.json", "/metrics")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class PageNotFound(Exception):
    """A page for something that does not exist (404 page)."""


def mount(app: FastAPI) -> None:
    for module in PAGES:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(SignInNeeded, _sign_in)
    app.add_exception_handler(RoleNeeded, _forbidden)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(PageNotFound, _not_found)
    app.middleware("http")(_page_headers)


async def _sign_in(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": "/login"})
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RoleNeeded)
    message = (
        f"This page needs the {exc.needed} role. You are signed in as "
        f"'{exc.session.token.name}' with the {exc.session.token.role} role."
    )
    return render(request, "error.html", 403, code=403, title="Not allowed", message=message)


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    request.state.web_session = current(request)
    return render(request, "error.html", 403, code=403, title="Form refused", message=str(exc))


async def _not_found(request: Request, exc: Exception) -> Response:
    request.state.web_session = current(request)
    return render(request, "error.html", 404, code=404, title="Not found", message=str(exc))


async def _page_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    if not request.url.path.startswith(NOT_PAGES):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


__all__ = ["PageNotFound", "mount"]
