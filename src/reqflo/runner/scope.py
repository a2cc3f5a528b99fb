"""The template scope of one run instance: what `{{ ... }}` references resolve against.

Owns `InstanceScope` (a Mapping with the roots `inputs`, `env`, `secrets`, `me`,
`steps` and `run` — `run.id`, `run.instance`, `run.key` of this instance), `StepView`
(what `steps.ID` exposes once a step ran) and `Headers` (a case-insensitive header
mapping).

`steps.ID` exposes `outputs` (name → value), `status` (the HTTP status code, None when
the step was skipped or errored), `headers` (case-insensitive; repeated headers are
joined with ", "), `body` (parsed JSON when the body is JSON, else text; parsed lazily,
once), `url` (the final URL after redirects) and `duration_ms`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from reqflo.http import HttpResponse

STEP_KEYS = ("outputs", "status", "headers", "body", "url", "duration_ms")
_MISSING = object()


class Headers(Mapping[str, str]):
    """Response headers looked up case-insensitively."""

    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        merged: dict[str, str] = {}
        for key, value in pairs:
            lower = key.lower()
            merged[lower] = f"{merged[lower]}, {value}" if lower in merged else value
        self._values = merged

    def __getitem__(self, key: str) -> str:
        return self._values[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class StepView(Mapping[str, Any]):
    """`steps.ID`: a finished step's outputs and response, resolved lazily."""

    def __init__(
        self,
        outputs: Mapping[str, Any],
        response: HttpResponse | None = None,
        duration_ms: float = 0.0,
    ) -> None:
        self._outputs = dict(outputs)
        self._response = response
        self._duration_ms = duration_ms
        self._body: Any = _MISSING
        self._headers: Headers | None = None

    def __getitem__(self, key: str) -> Any:
        if key == "outputs":
            return self._outputs
        if key == "duration_ms":
            return self._duration_ms
        response = self._response
        if key == "status":
            return response.status if response else None
        if key == "url":
            return response.url if response else None
        if key == "headers":
            return self._header_map()
        if key == "body":
            return self._parsed_body()
        raise KeyError(key)

    @property
    def response(self) -> HttpResponse | None:
        """The raw response (None when skipped or errored); the durable runner saves it."""
        return self._response

    def __contains__(self, key: object) -> bool:
        return key in STEP_KEYS

    def __iter__(self) -> Iterator[str]:
        return iter(STEP_KEYS)

    def __len__(self) -> int:
        return len(STEP_KEYS)

    def _header_map(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self._response.headers if self._response else ())
        return self._headers

    def _parsed_body(self) -> Any:
        if self._body is _MISSING:
            self._body = body_value(self._response)
        return self._body


def body_value(response: HttpResponse | None) -> Any:
    """A response body as a template sees it: parsed JSON if it parses, else text."""
    if response is None:
        return None
    if not response.body:
        return ""
    try:
        return response.json
    except ValueError:
        return response.text


class InstanceScope(Mapping[str, Any]):
    """The roots a template can reference during one instance; `steps` grows as it runs."""

    def __init__(
        self,
        inputs: Mapping[str, Any],
        env: Mapping[str, Any],
        secrets: Mapping[str, str],
        me: Mapping[str, Any],
        run: Mapping[str, Any] | None = None,
    ) -> None:
        self.steps: dict[str, StepView] = {}
        self._roots: dict[str, Any] = {
            "inputs": inputs,
            "env": env,
            "secrets": secrets,
            "me": me,
            "steps": self.steps,
            "run": run or {},
        }

    def record(self, step_id: str, view: StepView) -> None:
        self.steps[step_id] = view

    def __getitem__(self, key: str) -> Any:
        return self._roots[key]

    def __contains__(self, key: object) -> bool:
        return key in self._roots

    def __iter__(self) -> Iterator[str]:
        return iter(self._roots)

    def __len__(self) -> int:
        return len(self._roots)
