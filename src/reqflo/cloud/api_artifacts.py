"""Artifact routes: upload (idempotent by id, verified with `reqflo.artifact.loads`), read."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from reqflo.artifact import loads
from reqflo.cloud.api_deps import Deps
from reqflo.cloud.api_models import ArtifactDetail, ArtifactOut
from reqflo.cloud.auth import require
from reqflo.diagnostics import ArtifactError

MAX_ARTIFACT_BYTES = 10 * 1024 * 1024
router = APIRouter(prefix="/api/v1/artifacts", tags=["artifacts"])
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The artifact file as `reqflo build -o` writes it.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.post(
    "",
    status_code=201,
    response_model=ArtifactOut,
    dependencies=[Depends(require("editor"))],
    openapi_extra=UPLOAD_BODY,
    responses={200: {"description": "Already uploaded (same id)"}},
)
async def upload_artifact(request: Request, response: Response, deps: Deps) -> ArtifactOut:
    """Upload an artifact; it is verified (its id must be the hash of its plan)."""
    body = await request.body()
    if len(body) > MAX_ARTIFACT_BYTES:
        raise HTTPException(413, f"an artifact may be at most {MAX_ARTIFACT_BYTES} bytes")
    try:
        artifact = loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise HTTPException(422, f"the artifact is not UTF-8 text: {exc.reason}") from exc
    except ArtifactError as exc:
        raise HTTPException(422, str(exc)) from exc
    record, created = deps.store.put_artifact(artifact)
    if not created:
        response.status_code = 200
    return ArtifactOut.of(record)


@router.get("/{artifact_id}", response_model=ArtifactDetail,
            dependencies=[Depends(require("viewer"))])  # fmt: skip
def get_artifact(artifact_id: str, deps: Deps) -> ArtifactDetail:
    record = deps.store.artifact_record(artifact_id)
    artifact = deps.store.artifact(artifact_id) if record else None
    if record is None or artifact is None:
        raise HTTPException(404, f"artifact {artifact_id} is not uploaded")
    document = json.loads(artifact.model_dump_json())
    return ArtifactDetail(**vars(ArtifactOut.of(record)), artifact=document)
