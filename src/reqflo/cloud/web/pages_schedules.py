"""Web UI pages: schedules.

Owns /schedules (every schedule: cron + timezone, target, environment, state, the next
five fire instants, the last ticks with their runs), /schedules/{id} (the ticks
history and the failure-notification deliveries), the forms that add, edit, pause,
resume and remove a schedule (editor, as the API routes in `api_schedules`), and
/schedules/preview (an htmx fragment: the next fire instants of a cron + timezone as
typed). The webhook signing secret is write-only: pages only say whether one is set.
"""

from __future__ import annotations

import json
import zoneinfo
from functools import cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from reqflo.cloud.api_schedules import schedule_store, utc_now
from reqflo.cloud.cron import CronError
from reqflo.cloud.schedule_api_models import ScheduleRequest, ScheduleUpdate
from reqflo.cloud.web.schedule_forms import (
    FormError,
    check_schedule,
    fire_times,
    form_text,
    schedule_fields,
)
from reqflo.cloud.web.session import (
    Editor,
    EditorForm,
    PageNotFound,
    Posted,
    Viewer,
    done,
    services_of,
)
from reqflo.cloud.web.templating import render
from reqflo.cloud.webhook_guard import allow_private, shown_url
from reqflo.store.catalog_views import TickView, journey_names, recent_ticks, recent_ticks_of
from reqflo.store.run_views import RunViews
from reqflo.store.schedule_records import NewSchedule, ScheduleRecord
from reqflo.store.schedule_store import DuplicateSchedule

router = APIRouter(include_in_schema=False)
KEPT = frozenset({"rows", "data_key", "webhook_secret"})  # the edit form does not show them


def _private_ok(request: Request) -> bool:
    return allow_private(request.app.state)


def _existing(request: Request, key: str) -> ScheduleRecord:
    found = schedule_store(services_of(request)).get(key)
    if found is None:
        raise PageNotFound(f"no schedule with id or name '{key}'")
    return found


# ------------------------------------------------------------------ pages


@router.get("/schedules")
def schedules_page(request: Request, me: Viewer) -> Response:
    services = services_of(request)
    ticks = recent_ticks_of(services.store, 3)
    rows = [_summary(record, ticks.get(record.id, [])) for record in schedule_store(services).all()]
    return render(request, "schedules/list.html", section="schedules", rows=rows,
                  has_journeys=bool(journey_names(services.store)))  # fmt: skip


@router.get("/schedules/new")
def new_schedule_page(request: Request, me: Editor) -> Response:
    draft = form_text({"timezone": "UTC", "missed": "skip"})
    return _form(request, draft, None)


@router.get("/schedules/preview")
def preview_fragment(request: Request, me: Viewer, cron: str = "", timezone: str = "") -> Response:
    """The next five fire instants of what is typed (an htmx fragment; errors in words)."""
    return render(request, "schedules/_preview.html", **_preview(cron, timezone or "UTC"))


@router.get("/schedules/{schedule_id}")
def schedule_page(request: Request, schedule_id: str, me: Viewer) -> Response:
    record = _existing(request, schedule_id)
    view = _summary(record, recent_ticks(services_of(request).store, record.id, 100))
    creators = RunViews(services_of(request).store).token_names([record.created_by])
    return render(
        request, "schedules/detail.html", section="schedules", row=view,
        created_by=creators.get(record.created_by, record.created_by),
    )  # fmt: skip


@router.get("/schedules/{schedule_id}/edit")
def edit_schedule_page(request: Request, schedule_id: str, me: Editor) -> Response:
    record = _existing(request, schedule_id)
    draft = form_text({**vars(record), "inputs": _inputs_text(record.inputs)})
    return _form(request, draft, record)


# ------------------------------------------------------------------ forms


@router.post("/schedules")
def create_schedule(request: Request, posted: EditorForm) -> Response:
    try:
        fields = schedule_fields(posted.fields, ScheduleRequest)
        check_schedule(services_of(request).store, fields, utc_now(), _private_ok(request))
        new = NewSchedule(**fields, created_by=posted.session.token.id)
        record = schedule_store(services_of(request), bool(new.webhook_secret)).create(
            new, utc_now()
        )
    except FormError as exc:
        return _form(request, form_text(posted.fields), None, str(exc), exc.status)
    except DuplicateSchedule as exc:
        return _form(request, form_text(posted.fields), None, str(exc), 409)
    return _to(record, f"Schedule '{record.name}' added.", posted)


@router.post("/schedules/{schedule_id}/edit")
def update_schedule(request: Request, schedule_id: str, posted: EditorForm) -> Response:
    old = _existing(request, schedule_id)
    try:
        changes = _changes(posted)
        merged = {**vars(old), **changes}
        if (merged["journey"] is None) == (merged["artifact_id"] is None):
            raise FormError("give exactly one of journey (its latest artifact) or artifact_id")
        check_schedule(services_of(request).store, merged, utc_now(), _private_ok(request))
        sealing = bool(changes.get("webhook_secret"))
        record = schedule_store(services_of(request), sealing).update(old.id, changes, utc_now())
    except FormError as exc:
        return _form(request, form_text(posted.fields), old, str(exc), exc.status)
    except DuplicateSchedule as exc:
        return _form(request, form_text(posted.fields), old, str(exc), 409)
    return _to(record, f"Schedule '{record.name}' saved.", posted)


def _changes(posted: Posted) -> dict[str, Any]:
    """The edit form's fields as changes; rows and data key are kept, and so is the
    webhook secret unless a new one is typed or 'remove it' is ticked."""
    fields = schedule_fields(posted.fields, ScheduleUpdate)
    for required in ("name", "cron"):
        if not fields[required]:
            raise FormError(f"{required}: this field is required")
    changes = {k: v for k, v in fields.items() if k not in KEPT}
    if fields.get("webhook_secret"):
        changes["webhook_secret"] = fields["webhook_secret"]
    elif posted.fields.get("clear_webhook_secret"):
        changes["webhook_secret"] = None
    return changes


@router.post("/schedules/{schedule_id}/pause")
def pause_schedule(request: Request, schedule_id: str, posted: EditorForm) -> Response:
    record = _existing(request, schedule_id)
    record = schedule_store(services_of(request)).set_enabled(record.id, False, utc_now())
    return _to(record, f"Schedule '{record.name}' paused: it does not fire until resumed.", posted)


@router.post("/schedules/{schedule_id}/resume")
def resume_schedule(request: Request, schedule_id: str, posted: EditorForm) -> Response:
    record = _existing(request, schedule_id)
    record = schedule_store(services_of(request)).set_enabled(record.id, True, utc_now())
    return _to(record, f"Schedule '{record.name}' resumed: ticks of the pause are not run.", posted)


@router.post("/schedules/{schedule_id}/remove")
def remove_schedule(request: Request, schedule_id: str, posted: EditorForm) -> Response:
    record = _existing(request, schedule_id)
    schedule_store(services_of(request)).delete(record.id)
    return done("/schedules", f"Schedule '{record.name}' removed.", posted.session)


# ------------------------------------------------------------------ helpers


def _to(record: ScheduleRecord, message: str, posted: Posted) -> Response:
    return done(f"/schedules/{record.id}", message, posted.session)


def _form(
    request: Request, draft: dict[str, str], record: ScheduleRecord | None,
    error: str = "", status_code: int = 200,
) -> Response:  # fmt: skip
    store = services_of(request).store
    return render(
        request, "schedules/form.html", status_code, section="schedules", draft=draft,
        record=record, editing=record is not None, error=error,
        journeys=journey_names(store), zones=_zones(),
        environments=[e.name for e in store.environments()],
        **_preview(draft["cron"], draft["timezone"] or "UTC"),
    )  # fmt: skip


def _preview(cron: str, timezone: str) -> dict[str, Any]:
    if not cron.strip():
        return {"fires": [], "preview_error": "", "preview_hint": "Type a cron expression "
                "to see its next fire times."}  # fmt: skip
    try:
        fires = fire_times(cron.strip(), timezone.strip(), 5)
    except CronError as exc:
        return {"fires": [], "preview_error": str(exc), "preview_hint": ""}
    never = "" if fires else f"'{cron}' never fires."
    return {"fires": fires, "preview_error": never, "preview_hint": ""}


def _summary(record: ScheduleRecord, ticks: list[TickView]) -> dict[str, Any]:
    try:
        fires = fire_times(record.cron, record.timezone, 5) if record.enabled else []
    except CronError:
        fires = []
    return {
        "s": record, "fires": fires, "webhook": shown_url(record.webhook_url),
        "ticks": ticks,
        "inputs": _inputs_text(record.inputs) if record.inputs else "",
    }  # fmt: skip


def _inputs_text(inputs: dict[str, Any]) -> str:
    return json.dumps(inputs, indent=2, ensure_ascii=False, sort_keys=True) if inputs else ""


@cache
def _zones() -> list[str]:
    return sorted(zoneinfo.available_timezones())
