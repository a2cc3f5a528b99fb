"""Turning a run request into a queued run: the checks and the values of each instance.

Owns the precise 4xx answers for unknown artifacts (404), environments (404), cases and
undeclared inputs (422), and the merge of values in the spec's order, lowest first:
environment (for declared inputs) < case < inputs < data row. A rerun goes through the
same function with the stored request, so it runs exactly what the first run ran.
`queued_run` also carries the runner settings' step limits (step timeout cap, transport
retries), read from the store when the run is queued.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from reqflo.artifact import Artifact
from reqflo.cloud.executor import QueuedInstance, QueuedRun
from reqflo.cloud.request_guard import NUL, REFUSED
from reqflo.diagnostics import did_you_mean
from reqflo.store import RunRecord, Store, TokenRecord
from reqflo.store.models import MAX_KEY_LENGTH as MAX_KEY
from reqflo.store.schedule_records import RunnerSettings
from reqflo.values import to_text


def load_artifact(store: Store, artifact_id: str) -> Artifact:
    artifact = store.artifact(artifact_id)
    if artifact is None:
        raise HTTPException(
            404, f"artifact {artifact_id} is not uploaded; POST it to /api/v1/artifacts first"
        )
    return artifact


def load_environment(store: Store, name: str | None) -> dict[str, Any]:
    if name is None:
        return {}
    found = store.environment(name)
    if found is None:
        names = [e.name for e in store.environments()]
        hint = did_you_mean(name, names) or (
            f"available: {', '.join(names)}" if names else "none is defined yet"
        )
        raise HTTPException(
            404, f"environment '{name}' does not exist; {hint} (PUT /api/v1/environments/{name})"
        )
    return found.values


def check_request(
    artifact: Artifact, case: str | None, inputs: dict[str, Any], rows: list[Any] | None,
    data_key: str | None,
) -> None:  # fmt: skip
    """422 for what the journey does not declare; value types are the engine's job."""
    plan, journey = artifact.plan, artifact.plan.journey.name
    if case is not None and case not in plan.cases:
        hint = did_you_mean(case, plan.cases) or (
            f"available: {', '.join(plan.cases)}" if plan.cases else "it declares no cases"
        )
        raise HTTPException(422, f"case '{case}' is not defined in journey '{journey}'; {hint}")
    declared = {i.name for i in plan.inputs}
    for name in sorted(set(inputs) - declared):
        hint = did_you_mean(name, declared) or f"declared: {', '.join(sorted(declared)) or 'none'}"
        raise HTTPException(
            422, f"inputs.{name}: journey '{journey}' declares no input '{name}'; {hint}"
        )
    if rows is not None and not rows:
        raise HTTPException(422, "rows: give at least one row, or leave rows out")
    if data_key is not None and rows is None:
        raise HTTPException(422, "data_key names a column of rows, but the request has no rows")
    if data_key is not None and rows is not None:
        _check_keys(rows, data_key)


def _check_keys(rows: list[Any], data_key: str) -> None:
    """422 for an instance key the store cannot keep (PostgreSQL refuses a NUL)."""
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        key = _row_key(row, n, data_key)
        if NUL in key:
            raise HTTPException(422, f"rows.{n}.{data_key}: the instance key {REFUSED}")
        if len(key) > MAX_KEY:
            raise HTTPException(
                422, f"rows.{n}.{data_key}: the instance key is longer than {MAX_KEY} characters"
            )


def identity(token: TokenRecord) -> dict[str, Any]:
    """`me` for a cloud run: the identity of the API token that started it."""
    return {"id": token.id, "name": token.name, "user": token.name, "role": token.role}


def queued_run(
    record: RunRecord,
    artifact: Artifact,
    env: dict[str, Any],
    me: dict[str, Any] | None = None,
    settings: RunnerSettings | None = None,
) -> QueuedRun:
    """The executor's view of a stored run, with the step limits of `settings`."""
    settings = settings or RunnerSettings()
    declared = {i.name for i in artifact.plan.inputs}
    base = {k: v for k, v in env.items() if k in declared}
    if record.case is not None:
        base.update(artifact.plan.cases.get(record.case, {}))
    base.update(record.inputs)
    instances: tuple[QueuedInstance, ...]
    if record.rows is None:
        instances = (QueuedInstance(0, record.case or "default", base),)
    else:
        instances = tuple(
            QueuedInstance(n, _row_key(row, n, record.data_key), {**base, **row})
            for n, row in enumerate(record.rows)
        )
    return QueuedRun(
        run_id=record.id,
        artifact=artifact,
        instances=instances,
        environment=record.environment,
        env=env,
        concurrency=record.concurrency,
        me=me or {},
        step_timeout_seconds=settings.step_timeout_seconds,
        transport_retries=settings.transport_retries,
        transport_retry_backoff_seconds=settings.transport_retry_backoff_seconds,
    )


def _row_key(row: dict[str, Any], index: int, data_key: str | None) -> str:
    if data_key is not None and row.get(data_key) not in (None, ""):
        return to_text(row[data_key])
    return f"row-{index + 1}"  # as local --data runs name rows
