"""Web UI pages: journeys, artifacts (compiled plans) and environments.

Owns /journeys (every journey the service has seen: artifacts, latest artifact, last
run), /journeys/{name} (artifact history with runs per artifact, recent runs),
/artifacts/{id} (the compiled plan: needs, steps, canonical plan JSON; a plan holds
names of secrets, never values) and /environments (values; editors create and replace
them with the same checks as `PUT /api/v1/environments/{name}`). Secrets are not
environment values: they live in Admin → Secrets.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from reqflo.artifact import Artifact, StepPlan, plan_document, plan_id
from reqflo.cloud.api_models import NAME_PATTERN
from reqflo.cloud.web.schedule_forms import FormError, parse_mapping
from reqflo.cloud.web.session import (
    EditorForm,
    PageNotFound,
    Posted,
    Viewer,
    done,
    services_of,
)
from reqflo.cloud.web.templating import render
from reqflo.store import RunFilter
from reqflo.store.catalog_views import artifact_runs, journey_artifacts, journeys

router = APIRouter(include_in_schema=False)
MAX_VALUES_CHARS = 200_000


# ------------------------------------------------------------------ journeys


@router.get("/journeys")
def journeys_page(request: Request, me: Viewer) -> Response:
    found = journeys(services_of(request).store)
    return render(request, "catalog/journeys.html", section="journeys", journeys=found)


@router.get("/journeys/{name:path}")
def journey_page(request: Request, name: str, me: Viewer) -> Response:
    store = services_of(request).store
    artifacts = journey_artifacts(store, name)
    if not artifacts:
        raise PageNotFound(f"no artifact of a journey named '{name}' was uploaded")
    runs, total = store.runs(RunFilter(journey=name), 10, 0)
    return render(
        request, "catalog/journey.html", section="journeys", name=name,
        artifacts=artifacts, runs=runs, total_runs=total, runs_link=_runs_link(name),
    )  # fmt: skip


def _runs_link(journey: str) -> str:
    return f"/runs?journey={quote(journey, safe='')}"


# ------------------------------------------------------------------ artifacts


@router.get("/artifacts/{artifact_id}")
def artifact_page(request: Request, artifact_id: str, me: Viewer) -> Response:
    store = services_of(request).store
    record = store.artifact_record(artifact_id)
    artifact = store.artifact(artifact_id) if record else None
    if record is None or artifact is None:
        raise PageNotFound(f"artifact '{artifact_id}' is not uploaded")
    steps = [_step_view(artifact, n) for n, _ in enumerate(artifact.plan.steps)]
    return render(
        request, "catalog/artifact.html", section="journeys", record=record,
        plan=artifact.plan, steps=steps,
        plan_json=json.dumps(plan_document(artifact.plan), indent=2, sort_keys=True,
                             ensure_ascii=False),
        verified=plan_id(artifact.plan) == artifact.id, runs=artifact_runs(store, artifact_id),
        source=artifact.source.path, runs_link=_runs_link(record.journey),
    )  # fmt: skip


def _step_view(artifact: Artifact, index: int) -> dict[str, Any]:
    step: StepPlan = artifact.plan.steps[index]
    request = step.request
    where = artifact.step_source(index)
    return {
        "step": step, "number": index + 1,
        "line": where[1] if where else None,
        "body": _body_text(step), "auth": _auth_fields(step),
        "assertions": [_assertion_text(a.model_dump()) for a in step.assertions],
        "options": _request_options(request.timeout_ms, request.follow_redirects,
                                    request.verify_tls),
    }  # fmt: skip


def _body_text(step: StepPlan) -> str | None:
    body = step.request.body
    if body is None:
        return None
    if body.kind == "text" and isinstance(body.value, str):
        return body.value
    shown: Any = body.value
    if body.parts:
        shown = {name: part.model_dump(exclude_none=True) for name, part in body.parts.items()}
    return json.dumps(shown, indent=2, ensure_ascii=False, sort_keys=True)


def _auth_fields(step: StepPlan) -> dict[str, str]:
    """The auth templates (e.g. `{{ secrets.api_token }}`: names of secrets, not values)."""
    auth = step.request.auth
    if auth is None:
        return {}
    return {k: str(v) for k, v in auth.model_dump(exclude_none=True).items()}


def _assertion_text(assertion: dict[str, Any]) -> str:
    target = assertion["type"]
    for field in ("path", "key"):
        if assertion.get(field):
            target += f" {assertion[field]}"
    if assertion.get("json_schema") is not None:
        return f"{target} matches the JSON schema"
    if assertion["operator"] in ("exists", "not_exists"):
        return f"{target} {assertion['operator'].replace('_', ' ')}"
    expected = json.dumps(assertion["expected"], ensure_ascii=False)
    return f"{target} {assertion['operator'].replace('_', ' ')} {expected}"


def _request_options(timeout_ms: int, follow: bool, verify: bool) -> str:
    parts = [f"timeout {timeout_ms} ms"]
    parts.append("follows redirects" if follow else "does not follow redirects")
    if not verify:
        parts.append("TLS not verified")
    return ", ".join(parts)


# ------------------------------------------------------------------ environments


@router.get("/environments")
def environments_page(request: Request, me: Viewer) -> Response:
    return _environments(request)


def _environments(request: Request, status_code: int = 200, **form: Any) -> Response:
    found = services_of(request).store.environments()
    draft = {"name": "", "values": "", "error": ""} | form
    return render(
        request, "catalog/environments.html", status_code, section="environments",
        environments=found, draft=draft,
    )  # fmt: skip


@router.post("/environments")
def create_environment(request: Request, posted: EditorForm) -> Response:
    name = posted.text("name").strip()
    text = posted.text("values")
    store = services_of(request).store
    try:
        values = _checked(name, text)
    except FormError as exc:
        return _environments(request, exc.status, name=name, values=text, error=str(exc))
    if store.environment(name) is not None:
        message = f"environment '{name}' already exists: change it on its own page"
        return _environments(request, 409, name=name, values=text, error=message)
    store.put_environment(name, values)
    return _saved(name, "created", posted)


@router.get("/environments/{name}")
def environment_page(request: Request, name: str, me: Viewer) -> Response:
    return _environment(request, name)


def _environment(request: Request, name: str, status_code: int = 200, **form: Any) -> Response:
    record = services_of(request).store.environment(name)
    if record is None:
        raise PageNotFound(f"environment '{name}' does not exist")
    text = json.dumps(record.values, indent=2, ensure_ascii=False, sort_keys=True)
    draft = {"values": text, "error": ""} | form
    return render(
        request, "catalog/environment.html", status_code, section="environments",
        environment=record, rows=_value_rows(record.values), draft=draft,
    )  # fmt: skip


@router.post("/environments/{name}")
def update_environment(request: Request, name: str, posted: EditorForm) -> Response:
    text = posted.text("values")
    store = services_of(request).store
    if store.environment(name) is None:
        raise PageNotFound(f"environment '{name}' does not exist")
    try:
        values = _checked(name, text)
    except FormError as exc:
        return _environment(request, name, exc.status, values=text, error=str(exc))
    store.put_environment(name, values)
    return _saved(name, "saved", posted)


def _checked(name: str, text: str) -> dict[str, Any]:
    """The API's checks: a valid name and a mapping of values (JSON or YAML)."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise FormError(f"'{name}' is not a valid name: 1 to 100 letters, digits, '_', '.', '-'")
    if len(text) > MAX_VALUES_CHARS:
        raise FormError(f"the values may be at most {MAX_VALUES_CHARS} characters", 413)
    return parse_mapping(text, "values")


def _saved(name: str, verb: str, posted: Posted) -> Response:
    return done(f"/environments/{quote(name)}", f"Environment '{name}' {verb}.", posted.session)


def _value_rows(values: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(name, shown value, is it JSON rather than a plain string), by name."""
    rows = []
    for key in sorted(values):
        value = values[key]
        if isinstance(value, str):
            rows.append((key, value, False))
        else:
            rows.append((key, json.dumps(value, ensure_ascii=False), True))
    return rows
