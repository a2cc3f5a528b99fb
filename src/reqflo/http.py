"""HTTP exchange types and the swappable transport.

Owns `HttpRequest`/`HttpResponse` (plain frozen data, already rendered: no templates),
the `Transport` protocol the engine sends through, and the default aiohttp transport
(one shared connection pool with keep-alive; cookies are kept per run instance by the
engine, not by the pool).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    timeout_s: float = 30.0
    follow_redirects: bool = True
    verify_tls: bool = True
    max_redirects: int = 10


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    url: str
    elapsed_ms: float
    http_version: str = "1.1"
    cookies: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitively."""
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)

    def header_values(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]

    @cached_property
    def text(self) -> str:
        return self.body.decode(self._charset(), errors="replace")

    @cached_property
    def json(self) -> Any:
        """The parsed JSON body; raises ValueError when the body is not JSON."""
        return json.loads(self.text)

    def _charset(self) -> str:
        ctype = self.header("content-type") or ""
        for piece in ctype.split(";")[1:]:
            key, _, value = piece.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"')
        return "utf-8"


class TransportError(Exception):
    """A request could not complete; `code` is a stable step error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Transport(Protocol):
    async def send(self, request: HttpRequest, cookies: dict[str, str]) -> HttpResponse:
        """Send one request with the instance's cookies; raise TransportError on failure."""
        ...

    async def close(self) -> None: ...
