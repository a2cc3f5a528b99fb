"""Signing in and out of the web UI.

GET /login shows the form; POST /login checks the API token and opens a session (the
form itself is protected by a double-submit cookie, so nobody can sign a browser in to
their own account); POST /logout closes it. `next` only ever redirects within the UI.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Literal, TypedDict

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from reqflo.cloud.web.session import (
    COOKIE,
    ViewerForm,
    clear_cookie,
    current,
    secure_cookies,
    services_of,
    sessions,
    set_cookie,
)
from reqflo.cloud.web.templating import render

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "reqflo_login"


def safe_next(target: str | None) -> str:
    """Only a path of this site: '/runs?x=1', never '//evil.example', 'https://...' nor
    anything with a backslash or a control character (browsers drop tabs and newlines)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/runs"
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return "/runs"
    return target


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/runs", status_code=303)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    if current(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return login_form(request, safe_next(next))


def login_form(request: Request, target: str, error: str = "", status_code: int = 200) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = render(
        request, "login.html", status_code, login_csrf=nonce, next=target, error=error
    )
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, **login_cookie(request))
    return response


class CookieAttributes(TypedDict):
    path: str
    httponly: bool
    samesite: Literal["strict"]
    secure: bool


def login_cookie(request: Request) -> CookieAttributes:
    """The attributes `reqflo_login` is set with, and deleted with (a deletion that names
    other attributes may not match the cookie, and would not be as strict)."""
    return CookieAttributes(
        path="/login", httponly=True, samesite="strict", secure=secure_cookies(request)
    )


@router.post("/login")
def sign_in(
    request: Request,
    token: Annotated[str, Form()] = "",
    login_csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/runs",
) -> Response:
    target = safe_next(next)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), login_csrf.encode()):
        return login_form(request, target, "The sign-in form expired: please try again.", 403)
    record = services_of(request).store.token_for(token.strip())
    if record is None:
        return login_form(request, target, "That API token is unknown or revoked.", 401)
    _, session_id = sessions(request).open(record)
    response = RedirectResponse(target, status_code=303)
    set_cookie(request, response, session_id)
    response.delete_cookie(LOGIN_COOKIE, **login_cookie(request))
    return response


@router.post("/logout")
def sign_out(request: Request, posted: ViewerForm) -> Response:
    session_id = request.cookies.get(COOKIE, "")
    sessions(request).close(session_id)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(request, response)
    return response
