"""Who is signed in to the web UI, what they may see, and CSRF protection for its forms.

Owns the session cookie (`reqflo_session`: HttpOnly, SameSite=Strict, Path=/, Secure on
HTTPS or when the server says so), the page dependencies `page(role)` and
`form(role)` (as the annotations `Viewer`, `Editor`, `Admin`, `ViewerForm`, `EditorForm`,
`AdminForm`), and the exceptions pages raise: `SignInNeeded` (answered with a
redirect to /login?next=...), `RoleNeeded` and `CsrfRefused` (the 403 page) and
`PageNotFound` (the 404 page). Every form
carries the session's CSRF token (hidden field `csrf`, or the `X-CSRF-Token` header for
htmx requests); a POST whose token or `Origin` does not match is refused with 403.
After a successful post, `done(path, message, session)` redirects with a flash message
signed for the session (`flash` + `sig`); `flash_of` shows it only when the signature
matches, so a link cannot make a page say anything.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from reqflo.cloud.api_deps import Services
from reqflo.cloud.auth import RANK
from reqflo.store.session_store import WebSession, WebSessions

COOKIE = "reqflo_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class SignInNeeded(Exception):
    """No live session: the page answers with a redirect to the sign-in page."""


class RoleNeeded(Exception):
    """A live session whose role is below what the page needs (403 page)."""

    def __init__(self, needed: str, session: WebSession) -> None:
        super().__init__(f"this page needs the {needed} role")
        self.needed, self.session = needed, session


class CsrfRefused(Exception):
    """A form post without the session's CSRF token or from another origin (403 page)."""


class PageNotFound(Exception):
    """A page for something that does not exist (404 page)."""


@dataclass(frozen=True)
class Posted:
    """A checked form post: the signed-in session and the submitted fields."""

    session: WebSession
    fields: FormData

    def text(self, name: str) -> str:
        """A submitted text field ('' when absent; never a file upload)."""
        value = self.fields.get(name)
        return value if isinstance(value, str) else ""


def services_of(request: Request) -> Services:
    found = request.app.state.services
    assert isinstance(found, Services)
    return found


def sessions(request: Request) -> WebSessions:
    return WebSessions(services_of(request).store)


def current(request: Request) -> WebSession | None:
    """The request's live session, if it has one."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    return sessions(request).find(session_id)


def allowed(session: WebSession, role: str) -> bool:
    return RANK.get(session.token.role, -1) >= RANK[role]


def page(role: str) -> Callable[[Request], WebSession]:
    """A dependency for a page needing `role`: the session, or SignInNeeded / RoleNeeded."""

    def dependency(request: Request) -> WebSession:
        session = current(request)
        if session is None:
            raise SignInNeeded()
        request.state.web_session = session
        if not allowed(session, role):
            raise RoleNeeded(role, session)
        return session

    return dependency


def form(role: str) -> Callable[[Request], Coroutine[Any, Any, Posted]]:
    """A dependency for a form post needing `role`: session + fields, CSRF and origin checked."""
    needs = page(role)

    async def dependency(request: Request) -> Posted:
        session = needs(request)
        fields = await request.form()
        sent = str(fields.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
        if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
            raise CsrfRefused("the form's CSRF token is missing or stale: reload the page")
        if not same_origin(request):
            raise CsrfRefused("the form was posted from another site")
        return Posted(session, fields)

    return dependency


# What pages and forms declare: the same least role as the API route doing the same thing.
Viewer = Annotated[WebSession, Depends(page("viewer"))]
Editor = Annotated[WebSession, Depends(page("editor"))]
Admin = Annotated[WebSession, Depends(page("admin"))]
ViewerForm = Annotated[Posted, Depends(form("viewer"))]
EditorForm = Annotated[Posted, Depends(form("editor"))]
AdminForm = Annotated[Posted, Depends(form("admin"))]


def same_origin(request: Request) -> bool:
    """True unless an `Origin` (or `Referer`) header names another host than the request's
    (`Origin: null` names none, so it is another site too)."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    return claimed is None or urlsplit(claimed).netloc == request.url.netloc


def set_cookie(request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(
        COOKIE, session_id, httponly=True, samesite="strict", path="/",
        secure=secure_cookies(request),
    )  # fmt: skip


def clear_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=secure_cookies(request)
    )


def secure_cookies(request: Request) -> bool:
    forced = getattr(request.app.state, "secure_cookies", False)
    return bool(forced) or request.url.scheme == "https"


def done(path: str, message: str, session: WebSession) -> RedirectResponse:
    """303 to `path` with a flash message (names and numbers only, never a value)."""
    query = urlencode({"flash": message, "sig": _flash_sig(session, message)})
    return RedirectResponse(f"{path}?{query}", status_code=303)


def flash_of(request: Request, session: WebSession | None) -> str:
    """The request's flash message if this session's `done` signed it; else ''."""
    message = request.query_params.get("flash", "")
    sent = request.query_params.get("sig", "")
    if session is None or not message:
        return ""
    expected = _flash_sig(session, message).encode()
    return message if hmac.compare_digest(sent.encode("utf-8", "replace"), expected) else ""


def _flash_sig(session: WebSession, message: str) -> str:
    digest = hmac.new(session.csrf.encode(), b"flash\0" + message.encode(), "sha256")
    return digest.hexdigest()[:24]
