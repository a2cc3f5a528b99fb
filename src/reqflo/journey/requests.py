"""Request rules of the run check: method tokens, one auth helper, multipart part shapes.

Owns the checks on one request or template that need no other part of the journey.
"""

from __future__ import annotations

import re
from typing import Any

from reqflo.diagnostics import Severity, did_you_mean
from reqflo.journey.model import RequestSpec
from reqflo.journey.references import Reporter
from reqflo.journey.source import PathKey

METHOD_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
STANDARD_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
PART_KEYS = ("value", "file", "filename", "content_type")
AUTH_KEYS = ("basic", "bearer", "oauth2_client_credentials")


def check_request_details(request: RequestSpec, path: PathKey, report: Reporter) -> None:
    _check_method(request.method, path, report)
    _check_auth(request, path, report)
    for name, part in (request.multipart or {}).items():
        _check_part(name, part, (*path, "multipart", name), report)


def _check_method(method: str | None, path: PathKey, report: Reporter) -> None:
    if method is None or "{{" in method:
        return
    where = (*path, "method")
    if not METHOD_TOKEN.match(method):
        report.add(
            "invalid-method",
            f"'{method}' is not an HTTP method",
            where,
            did_you_mean(method.upper(), STANDARD_METHODS) or "e.g. GET, POST, PUT",
        )
    elif method.upper() not in STANDARD_METHODS:
        report.add(
            "unusual-method",
            f"'{method}' is not a standard HTTP method",
            where,
            did_you_mean(method.upper(), STANDARD_METHODS),
            severity=Severity.WARNING,
        )


def _check_auth(request: RequestSpec, path: PathKey, report: Reporter) -> None:
    if request.auth is None:
        return
    given = [key for key in AUTH_KEYS if getattr(request.auth, key) is not None]
    if len(given) > 1:
        report.add(
            "conflicting-auth",
            f"more than one auth helper: {', '.join(given)}",
            (*path, "auth"),
            "keep one of basic, bearer or oauth2_client_credentials",
        )
    if not given:
        report.add(
            "missing-key",
            "auth names no helper",
            (*path, "auth"),
            "add basic, bearer or oauth2_client_credentials",
        )


def _check_part(name: str, part: Any, path: PathKey, report: Reporter) -> None:
    if not isinstance(part, dict):
        return
    for key in part:
        if key not in PART_KEYS:
            report.add(
                "unknown-key",
                f"unknown key '{key}' (in multipart part '{name}')",
                (*path, key),
                did_you_mean(str(key), PART_KEYS) or f"allowed keys here: {', '.join(PART_KEYS)}",
                key=True,
                width=len(key),
            )
    if "file" in part and "value" in part:
        report.add(
            "conflicting-keys",
            f"multipart part '{name}' has both file and value",
            path,
            "keep one of them",
        )
    if "file" not in part and "value" not in part:
        report.add(
            "missing-key",
            f"multipart part '{name}' needs `value:` or `file:`",
            path,
            "e.g. {file: ./upload.png, content_type: image/png}",
        )
