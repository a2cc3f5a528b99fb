"""The Cloud Runner's web UI: server-rendered pages (Jinja2) with a little htmx.

Modules:
- `session`         — sign-in sessions (cookie), page/form role dependencies (`Viewer`,
                      `EditorForm`, ...), CSRF, signed flash messages (`done`), 404.
- `templating`      — the Jinja2 environment, display filters, `render`.
- `pages_auth`      — /login, /logout, /.
- `pages_runs`      — runs list, run detail with evidence, diff, rerun, cancel.
- `pages_catalog`   — journeys, artifacts (compiled plans), environments.
- `pages_schedules` — schedules.
- `pages_admin`     — Admin → Tokens.
- `pages_secrets`   — Admin → Secrets.  `pages_runners` — Admin → Runners.

`mount(app)` adds the pages (kept out of the OpenAPI schema), /static, the error pages
(sign-in redirect, 403, 404; any HTTP error outside /api/ and the API docs, such as an
unknown address or a wrong method, is the HTML error page too, while /api/* keeps
FastAPI's JSON; so is a page's unexpected error, a 500 whose details go to the log only),
security headers on every page, and reqflo.cloud.request_guard's `NulGuard` (for the API
too: a NUL in a path or query string is a 422 under /api/, the 400 page elsewhere).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from reqflo.cloud.request_guard import NulGuard
from reqflo.cloud.web import (
    pages_admin,
    pages_auth,
    pages_catalog,
    pages_runners,
    pages_runs,
    pages_schedules,
    pages_secrets,
)
from reqflo.cloud.web.session import (
    CsrfRefused,
    PageNotFound,
    RoleNeeded,
    SignInNeeded,
    current,
)
from reqflo.cloud.web.templating import render

log = logging.getLogger(__name__)
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
MESSAGES = {
    404: "There is no page at this address.",
    405: "This address does not answer a {method} request.",
}


def mount(app: FastAPI) -> None:
    app.add_middleware(NulGuard)  # a NUL in a path or query: 422 under /api/, the 400 page
    for module in PAGES:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(SignInNeeded, _sign_in)
    app.add_exception_handler(RoleNeeded, _forbidden)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(PageNotFound, _not_found)
    app.add_exception_handler(HTTPException, _http_error)
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
    _known_session(request)
    return render(request, "error.html", 403, code=403, title="Form refused", message=str(exc))


async def _not_found(request: Request, exc: Exception) -> Response:
    _known_session(request)
    return render(request, "error.html", 404, code=404, title="Not found", message=str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's JSON under /api/ (and the docs); the HTML error page everywhere else."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith(NOT_PAGES):
        return await http_exception_handler(request, exc)
    _known_session(request)
    code = exc.status_code
    message = MESSAGES[code].format(method=request.method) if code in MESSAGES else exc.detail
    response = render(
        request, "error.html", code, code=code, title=_phrase(code), message=str(message)
    )
    response.headers.update(exc.headers or {})
    return response


def _known_session(request: Request) -> None:
    """Who is signed in, for the error page: the page dependency's lookup when it ran."""
    if getattr(request.state, "web_session", None) is None:
        request.state.web_session = current(request)


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase.capitalize()
    except ValueError:
        return "Error"


async def _page_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    if request.url.path.startswith(NOT_PAGES):
        return await call_next(request)
    try:
        response = await call_next(request)
    except Exception as exc:  # a page's bug: the HTML error page, details in the log only
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        message = f"Something went wrong on the server ({type(exc).__name__}); its log says more."
        response = render(
            request, "error.html", 500, code=500, title="Server error", message=message
        )
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


__all__ = ["PageNotFound", "mount"]
