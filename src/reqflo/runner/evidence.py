"""Redacted evidence: what goes into results from requests, responses and checks.

Owns the conversion of an `HttpRequest`/`HttpResponse` into `RequestRecord`/
`ResponseRecord`, of a checks `Check` into an `AssertionResult` (with the assertion's
source line), and of error messages into `StepError` — every one of them passed through
the instance's redactor. Sensitive headers are masked by the redactor; bodies longer
than the limit are cut with `body_truncated=True`, never silently.

Redaction happens before truncation, on a window a little larger than the limit, and
the window's tail is dropped, so a secret straddling the cut never shows partially.

`InstanceRedactor` keeps redaction cheap for large data groups: every instance of a run
shares one `Redactor` built from the run's resolved secrets (`SharedRedactors` caches it
per secret set); an instance gets a private copy (`Redactor.fork`, which shares the compiled
run patterns and matches the derived secret on its own) only when it derives a new secret
(an output marked `secret: true`); overlapping secrets are still masked as one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from reqflo.checks import Check
from reqflo.http import HttpRequest, HttpResponse
from reqflo.runner.results import (
    AssertionResult,
    RequestRecord,
    ResponseRecord,
    StepError,
    Timings,
)
from reqflo.secrets.redact import Redactor

BODY_LIMIT = 64 * 1024
_MARGIN = 8 * 1024  # longer than any encoded secret form the redactor may have to match
_MEMO_CHARS, _MEMO_ENTRIES = 512, 256  # InstanceRedactor: texts remembered, per instance


class Redacts(Protocol):
    """The redactor interface the engine uses (reqflo.secrets.redact.Redactor)."""

    def add(self, value: str) -> None: ...

    def redact(self, text: str) -> str: ...

    def redact_value(self, obj: Any) -> Any: ...

    def redact_headers(self, pairs: Iterable[tuple[str, str]]) -> Any: ...


class SharedRedactors:
    """Run-wide cache: one Redactor per distinct set of resolved secret values."""

    def __init__(self) -> None:
        self._by_secrets: dict[frozenset[str], Redactor] = {}

    def for_secrets(self, secrets: Iterable[str]) -> InstanceRedactor:
        key = frozenset(s for s in secrets if s)
        shared = self._by_secrets.get(key)
        if shared is None:
            shared = self._by_secrets[key] = Redactor(key)
        return InstanceRedactor(shared, key)


class InstanceRedactor:
    """An instance's redactor: the shared run redactor until a secret is derived.

    Short texts recur within an instance (URLs in request and response, header values),
    so their redacted form is remembered until the next `add` changes the secret set.
    """

    def __init__(self, shared: Redactor, secrets: frozenset[str]) -> None:
        self._secrets = set(secrets)
        self._active = shared
        self._private = False
        self._seen: dict[str, str] = {}

    def add(self, value: str) -> None:
        if not value or value in self._secrets:
            return
        self._secrets.add(value)
        self._seen = {}
        if not self._private:
            self._active, self._private = self._active.fork(), True
        self._active.add(value)

    def redact(self, text: str) -> str:
        seen = self._seen.get(text)
        if seen is not None:
            return seen
        redacted = self._active.redact(text)
        if len(text) <= _MEMO_CHARS and len(self._seen) < _MEMO_ENTRIES:
            self._seen[text] = redacted
        return redacted

    def redact_value(self, obj: Any) -> Any:
        return self._active.redact_value(obj, self.redact)

    def redact_headers(self, pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        return self._active.redact_headers(pairs, self.redact)

    def __repr__(self) -> str:  # never show the values
        return f"InstanceRedactor({len(self._secrets)} secrets)"


def clipped(text: str, redactor: Redacts, limit: int = BODY_LIMIT) -> tuple[str, bool]:
    """`text` redacted and cut to `limit` characters; True when something was cut."""
    if len(text) <= limit + _MARGIN:
        redacted = redactor.redact(text)
        if len(redacted) <= limit:
            return redacted, False
        return redacted[:limit], True
    redacted = redactor.redact(text[: limit + _MARGIN])
    return redacted[: max(0, min(limit, len(redacted) - _MARGIN))], True


def headers_of(pairs: Iterable[tuple[str, str]], redactor: Redacts) -> tuple[tuple[str, str], ...]:
    return tuple(redactor.redact_headers(pairs))


def request_record(
    request: HttpRequest, redactor: Redacts, limit: int = BODY_LIMIT
) -> RequestRecord:
    body, truncated = None, False
    if request.body is not None:
        body, truncated = clipped(request.body.decode("utf-8", errors="replace"), redactor, limit)
    return RequestRecord(
        method=request.method,
        url=redactor.redact(request.url),
        headers=headers_of(request.headers, redactor),
        body=body,
        body_truncated=truncated,
    )


def response_record(
    response: HttpResponse, redactor: Redacts, limit: int = BODY_LIMIT
) -> ResponseRecord:
    body, truncated = clipped(response.text, redactor, limit)
    return ResponseRecord(
        status=response.status,
        reason=redactor.redact(response.reason),
        http_version=response.http_version,
        headers=headers_of(response.headers, redactor),
        body=body,
        body_size=len(response.body),
        body_truncated=truncated,
        url=redactor.redact(response.url),
        timings=Timings(total_ms=round(response.elapsed_ms, 3)),
    )


def assertion_result(
    check: Check, redactor: Redacts, source: tuple[str, int, str] | None
) -> AssertionResult:
    return AssertionResult(
        index=check.index,
        type=check.type,
        operator=check.operator,
        passed=check.passed,
        expected=redactor.redact_value(check.expected),
        actual=redactor.redact_value(check.actual),
        path=check.path,
        key=check.key,
        message=redactor.redact(check.message),
        source_line=source[1] if source else None,
        source_text=source[2] if source else None,
    )


def step_error(code: str, message: str, redactor: Redacts) -> StepError:
    return StepError(code=code, message=redactor.redact(message))
