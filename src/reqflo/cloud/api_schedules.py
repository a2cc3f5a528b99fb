"""Schedule routes: create, list, get (with the next fire instants), update, pause,
resume, delete. Editors write, viewers read.

The webhook secret is write-only: sealed with the server's master key
(reqflo.store.schedule_secrets) and never returned, only `has_webhook_secret`. A webhook
URL must pass the SSRF guard (reqflo.cloud.webhook_guard: a host resolving to a
private, loopback, link-local or metadata address is refused with 422 unless the server
allows private addresses); a host that does not resolve yet is accepted, since every
delivery checks the address again when it is sent."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from reqflo.cloud.api_deps import Deps, Services
from reqflo.cloud.api_submit import check_request, load_artifact, load_environment
from reqflo.cloud.auth import Editor, require
from reqflo.cloud.cron import CronError, CronSpec
from reqflo.cloud.durable.keys import load_master_key
from reqflo.cloud.schedule_api_models import ScheduleOut, ScheduleRequest, ScheduleUpdate
from reqflo.cloud.webhook_guard import UnsafeWebhook, allow_private, check_url
from reqflo.diagnostics import did_you_mean
from reqflo.store import Store
from reqflo.store.catalog_views import journey_names
from reqflo.store.schedule_records import NewSchedule, ScheduleRecord
from reqflo.store.schedule_store import DuplicateSchedule, ScheduleStore

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])
Viewing = [Depends(require("viewer"))]
Editing = [Depends(require("editor"))]
Count = Annotated[int, Query(ge=0, le=100, description="How many next fire instants")]


def _allow_private(request: Request) -> bool:
    return allow_private(request.app.state)


AllowPrivate = Annotated[bool, Depends(_allow_private)]


def schedule_store(deps: Services, sealing: bool = False) -> ScheduleStore:
    """The schedule store; with `sealing`, able to seal webhook secrets (the master key).
    The API and the web pages (reqflo.cloud.web.pages_schedules) both use it."""
    return ScheduleStore(deps.store, load_master_key(deps.data_dir) if sealing else None)


def utc_now() -> datetime:
    """The current instant (UTC) that schedules are created, changed and shown at."""
    return datetime.now(UTC)


def _out(record: ScheduleRecord, count: int) -> ScheduleOut:
    fires = CronSpec(record.cron, record.timezone).next_fires(utc_now(), count) if count else []
    return ScheduleOut.of(record, fires if record.enabled else [])


def _existing(deps: Services, key: str) -> ScheduleRecord:
    found = schedule_store(deps).get(key)
    if found is None:
        raise HTTPException(404, f"no schedule with id or name '{key}'")
    return found


def _check_webhook(url: str | None, private_ok: bool) -> None:
    if url is None:
        return
    try:
        check_url(url, private_ok, must_resolve=False)
    except UnsafeWebhook as exc:
        raise HTTPException(422, f"webhook_url: {exc}") from exc


def validate_schedule(
    store: Store, fields: Mapping[str, Any], now: datetime, private_ok: bool
) -> None:
    """422/404 for a bad cron, timezone, webhook URL, journey, artifact, environment,
    case or input (the API's and the web form's one set of checks)."""
    try:
        spec = CronSpec(fields["cron"], fields["timezone"])
    except CronError as exc:
        raise HTTPException(422, str(exc)) from exc
    if not spec.next_fires(now, 1):
        raise HTTPException(422, f"cron '{spec.expression}' never fires")
    _check_webhook(fields.get("webhook_url"), private_ok)
    journey = fields.get("journey") or ""
    artifact_id = fields.get("artifact_id") or ScheduleStore(store).latest_artifact_id(journey)
    if artifact_id is None:
        raise HTTPException(404, _unknown_journey(store, journey))
    artifact = load_artifact(store, artifact_id)
    load_environment(store, fields.get("environment"))
    check_request(artifact, fields.get("case"), fields.get("inputs") or {}, fields.get("rows"),
                  fields.get("data_key"))  # fmt: skip


def _unknown_journey(store: Store, journey: str) -> str:
    names = journey_names(store)
    hint = did_you_mean(journey, names) or (
        f"known: {', '.join(names)}" if names else "none is uploaded yet"
    )
    return f"journey '{journey}' has no uploaded artifact; upload one first ({hint})"


@router.post("", status_code=201, response_model=ScheduleOut)
def create_schedule(
    body: ScheduleRequest, token: Editor, deps: Deps, private_ok: AllowPrivate
) -> ScheduleOut:
    fields = body.model_dump()
    validate_schedule(deps.store, fields, utc_now(), private_ok)
    new = NewSchedule(**fields, created_by=token.id)
    try:
        record = schedule_store(deps, sealing=new.webhook_secret is not None).create(new, utc_now())
    except DuplicateSchedule as exc:
        raise HTTPException(409, str(exc)) from exc
    return _out(record, 5)


@router.get("", response_model=list[ScheduleOut], dependencies=Viewing)
def list_schedules(deps: Deps, next: Count = 1) -> list[ScheduleOut]:
    return [_out(r, next) for r in schedule_store(deps).all()]


@router.get("/{schedule_id}", response_model=ScheduleOut, dependencies=Viewing)
def get_schedule(schedule_id: str, deps: Deps, next: Count = 5) -> ScheduleOut:
    """The schedule with its next `next` fire instants (UTC)."""
    return _out(_existing(deps, schedule_id), next)


# Every schedule has these: a PATCH may change them, never clear them.
NOT_NULL = frozenset({"name", "cron", "timezone", "missed", "inputs"})


@router.patch("/{schedule_id}", response_model=ScheduleOut, dependencies=Editing)
def update_schedule(
    schedule_id: str, body: ScheduleUpdate, deps: Deps, private_ok: AllowPrivate
) -> ScheduleOut:
    old = _existing(deps, schedule_id)
    changes = body.model_dump(exclude_unset=True)
    for field in NOT_NULL & {k for k, v in changes.items() if v is None}:
        raise HTTPException(422, f"{field}: cannot be null; leave it out to keep it")
    if "journey" in changes and changes["journey"] is not None:
        changes["artifact_id"] = None
    elif "artifact_id" in changes and changes["artifact_id"] is not None:
        changes["journey"] = None
    merged = {**vars(old), **changes}
    if (merged["journey"] is None) == (merged["artifact_id"] is None):
        raise HTTPException(422, "give exactly one of journey or artifact_id")
    validate_schedule(deps.store, merged, utc_now(), private_ok)
    sealing = changes.get("webhook_secret") is not None
    try:
        record = schedule_store(deps, sealing).update(old.id, changes, utc_now())
    except DuplicateSchedule as exc:
        raise HTTPException(409, str(exc)) from exc
    return _out(record, 5)


@router.post("/{schedule_id}/pause", response_model=ScheduleOut, dependencies=Editing)
def pause_schedule(schedule_id: str, deps: Deps) -> ScheduleOut:
    record = schedule_store(deps).set_enabled(_existing(deps, schedule_id).id, False, utc_now())
    return _out(record, 0)


@router.post("/{schedule_id}/resume", response_model=ScheduleOut, dependencies=Editing)
def resume_schedule(schedule_id: str, deps: Deps) -> ScheduleOut:
    """Fires again from now on; ticks of the pause are not run."""
    record = schedule_store(deps).set_enabled(_existing(deps, schedule_id).id, True, utc_now())
    return _out(record, 5)


@router.delete("/{schedule_id}", response_model=ScheduleOut, dependencies=Editing)
def delete_schedule(schedule_id: str, deps: Deps) -> ScheduleOut:
    record = _existing(deps, schedule_id)
    schedule_store(deps).delete(record.id)
    return _out(record, 0)
