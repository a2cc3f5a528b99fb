"""The "Start a run" form: what it offers, how its fields become an API run request.

Owns `StartForm` (the submitted text, kept to refill the form after an error),
`parse_inputs` (`key=value` lines or a JSON object), `parse_rows` (a JSON array of
objects) and `submit`: the form becomes the API's `RunRequest` and goes through the
API's own `submit_run`, so the checks and the queued run are exactly the API's. Every
problem comes back as `schedule_forms.FormError` (a message and the form page's status),
never as a 500. Each rendered form carries a random `once` value; with a digest of the values it is
the run's idempotency key, so a double submit of the same values starts one run.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from fastapi import HTTPException, Response
from pydantic import ValidationError

from reqflo.cloud.api_deps import Services
from reqflo.cloud.api_models import RunOut, RunRequest
from reqflo.cloud.api_runs import submit_run
from reqflo.cloud.web.schedule_forms import FormError
from reqflo.store import TokenRecord

FIELDS = (
    "artifact", "environment", "case", "inputs", "rows", "data_key", "concurrency", "once",
)  # fmt: skip


@dataclass(frozen=True)
class StartForm:
    artifact: str = ""
    environment: str = ""
    case: str = ""
    inputs: str = ""
    rows: str = ""
    data_key: str = ""
    concurrency: str = ""
    once: str = ""  # the idempotency key of this form: submitting it twice starts one run

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> StartForm:
        """From a form post or a query string (the form reloaded for another artifact)."""
        found = cls(**{name: str(fields.get(name) or "").strip() for name in FIELDS})
        return found if found.once else replace(found, once=secrets.token_urlsafe(18))


def parse_inputs(text: str) -> dict[str, Any]:
    """A JSON object, or `name=value` lines (values are text, as with `--set`)."""
    if text.startswith("{"):
        found = _json(text, "inputs")
        if not isinstance(found, dict):
            raise FormError('inputs: a JSON object is expected, like {"word": "hi"}')
        return found
    values: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise FormError(f"inputs, line {number}: expected name=value, got '{line.strip()}'")
        values[name.strip()] = value.strip()
    return values


def parse_rows(text: str) -> list[dict[str, Any]] | None:
    if not text:
        return None
    found = _json(text, "data rows")
    if not isinstance(found, list) or not all(isinstance(row, dict) for row in found):
        raise FormError('data rows: a JSON array of objects is expected, like [{"word": "a"}]')
    return found


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormError(
            f"{what}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def run_request(form: StartForm) -> RunRequest:
    if not form.artifact:
        raise FormError("artifact: pick the artifact to run")
    concurrency: int | str | None = form.concurrency or None
    if concurrency is not None and str(concurrency).isdigit():
        concurrency = int(str(concurrency))
    payload = {
        "artifact_id": form.artifact, "environment": form.environment or None,
        "case": form.case or None, "inputs": parse_inputs(form.inputs),
        "rows": parse_rows(form.rows), "data_key": form.data_key or None,
        "concurrency": concurrency,
    }  # fmt: skip
    payload["idempotency_key"] = _once_key(form.once, payload)
    try:
        return RunRequest.model_validate(payload)
    except ValidationError as exc:
        raise FormError("; ".join(_describe(e) for e in exc.errors())) from None


def _once_key(once: str, payload: dict[str, Any]) -> str:
    """The same form with the same values is one run; changed values are another."""
    content = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
    return f"web-form:{once[:64]}:{hashlib.sha256(content).hexdigest()[:24]}"


def _describe(error: Any) -> str:
    names = {"artifact_id": "artifact", "rows": "data rows"}
    location = ".".join(names.get(str(p), str(p)) for p in error.get("loc", ()))
    return f"{location}: {error.get('msg', 'invalid')}"


def submit(services: Services, token: TokenRecord, form: StartForm) -> RunOut:
    """Submit as `POST /api/v1/runs` would; FormError for anything it would refuse."""
    body = run_request(form)
    try:
        return submit_run(body, Response(), token, services)
    except HTTPException as exc:
        status = exc.status_code if exc.status_code in (400, 409, 422) else 422
        raise FormError(str(exc.detail), status) from None


__all__ = ["StartForm", "parse_inputs", "parse_rows", "run_request", "submit"]
