"""Web UI pages: Admin → Runners — the live workers and the runner settings (admin only).

Owns /admin/runners: the durable workers from the same source as `GET /api/v1/workers`
(reqflo.cloud.api_system; heartbeat age, alive/late/stale: late after missed beats of the
interval the worker records in its row, stale at the sweep threshold of this server's own
durable worker, else of the defaults of reqflo.cloud.durable.liveness, which also stand in
for an interval an older worker did not record; runs each one is executing when the
durable engine's tables say so), refreshed by htmx from
/admin/runners/workers every few seconds, the runs in progress, and the runner settings
as a form. The form's fields are derived from the `RunnerSettings` model
(reqflo.store.schedule_records): known fields get a label and help here, a field added
later still gets an input from its type. A post is validated by the same model as
`PUT /api/v1/settings` and stored the same way; errors are shown next to each field.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Union, get_args, get_origin

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from reqflo.cloud.api_deps import Services
from reqflo.cloud.api_system import WorkerOut, workers
from reqflo.cloud.durable.liveness import (
    DEFAULT_THRESHOLDS,
    LATE_AFTER_BEATS,
    Liveness,
    Thresholds,
)
from reqflo.cloud.web.session import Admin, AdminForm, done, services_of
from reqflo.cloud.web.templating import render
from reqflo.store import Store
from reqflo.store.schedule_records import RunnerSettings
from reqflo.store.schedule_store import ScheduleStore

router = APIRouter(include_in_schema=False)
REFRESH_SECONDS = 5
LABELS: dict[str, tuple[str, str]] = {
    "default_concurrency": ("Default concurrency",
        "Instances a run executes at once, unless the run sets its own or its journey is below."),
    "journey_concurrency": ("Per-journey concurrency",
        "One line per journey: journey-name = N. Overrides the default for that journey."),
    "step_timeout_seconds": ("Step timeout cap (seconds)",
        "No request waits longer than this, whatever its step says. Empty: no cap."),
    "max_run_seconds": ("Maximum run duration (seconds)",
        "A run still running after this long is cancelled. Empty: no limit."),
    "transport_retries": ("Transport retries",
        "Extra attempts after a connection error, timeout, TLS error or invalid response (0–10)."),
    "transport_retry_backoff_seconds": ("Transport retry backoff (seconds)",
        "The wait before each of those extra attempts."),
    "retention_days": ("Keep finished runs for (days)",
        "Older finished runs are deleted with their evidence. Empty: keep them."),
    "retention_max_runs": ("Keep at most (runs)",
        "Only the newest N finished runs are kept. Empty: no limit. Runs in progress are kept."),
}  # fmt: skip


# ------------------------------------------------------------------ workers


@dataclass(frozen=True)
class Worker:
    worker: WorkerOut
    status: str  # alive | late | stale
    active_runs: int | None  # None: not known (no durable engine tables)
    beats_every: float | None  # its recorded heartbeat interval; None: not recorded
    limits: Thresholds  # the thresholds `status` applied


def worker_rows(request: Request) -> list[Worker]:
    services = services_of(request)
    active = active_runs(services.store)
    limits = thresholds(services)

    def row(worker: WorkerOut) -> Worker:
        every = worker.heartbeat_interval_s
        own = limits.beating_every(every)
        status = liveness(worker.seconds_since_heartbeat, own)
        running = None if active is None else active.get(worker.executor_id, 0)
        return Worker(worker, status, running, every, own)

    return [row(w) for w in workers(services)]


def thresholds(services: Services) -> Thresholds:
    """Late/stale as this server's own durable worker beats and sweeps (`reqflo server
    --executor durable`), else the liveness defaults (in-process or `--api-only`)."""
    own = getattr(services.executor, "liveness", None)
    return own.thresholds if isinstance(own, Liveness) else DEFAULT_THRESHOLDS


def liveness(age: float, limits: Thresholds) -> str:
    if age < limits.late_after_s:
        return "alive"
    return "late" if age < limits.stale_after_s else "stale"


def active_runs(store: Store) -> dict[str, int] | None:
    """Runs each durable worker is executing (the engine's pending `reqflo.run` workflows)."""
    schema = "dbos" if store.engine.dialect.name == "postgresql" else None
    try:
        if not sa.inspect(store.engine).has_table("workflow_status", schema=schema):
            return None
        table = sa.table("workflow_status", *map(sa.column, ("executor_id", "name", "status")))
        table.schema = schema
        query = (
            sa.select(table.c.executor_id, sa.func.count())
            .where(table.c.name == "reqflo.run", table.c.status == "PENDING")
            .group_by(table.c.executor_id)
        )
        with store.engine.connect() as connection:
            return {str(e): int(n) for e, n in connection.execute(query)}
    except sa.exc.SQLAlchemyError:
        return None


def in_progress(store: Store) -> dict[str, int]:
    counts = store.status_counts()
    return {status: counts.get(status, 0) for status in ("queued", "running")}


@router.get("/admin/runners/workers")
def workers_fragment(request: Request, me: Admin) -> Response:
    """The workers table alone, for the page's htmx refresh."""
    services = services_of(request)
    return render(
        request, "admin/_workers.html", workers=worker_rows(request),
        progress=in_progress(services.store), refresh=REFRESH_SECONDS,
        limits=thresholds(services), beats=LATE_AFTER_BEATS,
    )  # fmt: skip


# ------------------------------------------------------------------ settings form


@dataclass(frozen=True)
class SettingField:
    """One input of the settings form, derived from a `RunnerSettings` field."""

    name: str
    label: str
    help: str
    kind: str  # int | float | map | bool | choice | text
    optional: bool
    choices: tuple[str, ...] = ()


def setting_fields() -> list[SettingField]:
    return [field_of(name, info) for name, info in RunnerSettings.model_fields.items()]


def field_of(name: str, info: FieldInfo) -> SettingField:
    label, help_text = LABELS.get(name, (name.replace("_", " ").capitalize(), ""))
    args = get_args(info.annotation)
    optional = get_origin(info.annotation) in (Union, types.UnionType) and type(None) in args
    inner = (
        next((a for a in args if a is not type(None)), info.annotation)
        if optional
        else info.annotation
    )
    choices = tuple(str(a) for a in get_args(inner)) if get_origin(inner) is Literal else ()
    help_text = help_text or info.description or ""
    return SettingField(name, label, help_text, kind_of(inner), optional, choices)


def kind_of(annotation: Any) -> str:
    if get_origin(annotation) is dict:
        return "map"
    if get_origin(annotation) is Literal:
        return "choice"
    simple = {bool: "bool", int: "int", float: "float"}
    return simple.get(annotation, "text")


def shown(settings: RunnerSettings) -> dict[str, str]:
    """The settings as the form's input values."""
    values: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            values[name] = ""
        elif isinstance(value, dict):
            values[name] = "\n".join(f"{k} = {v}" for k, v in sorted(value.items()))
        elif isinstance(value, bool):
            values[name] = "on" if value else ""
        elif isinstance(value, float):
            values[name] = f"{value:g}"
        else:
            values[name] = str(value)
    return values


@router.get("/admin/runners")
def runners_page(request: Request, me: Admin) -> Response:
    settings = ScheduleStore(services_of(request).store).settings()
    return runners_form(request, shown(settings), {})


def runners_form(request: Request, values: dict[str, str], errors: dict[str, str],
                 status_code: int = 200) -> Response:  # fmt: skip
    services = services_of(request)
    return render(
        request, "admin/runners.html", status_code, section="runners", fields=setting_fields(),
        values=values, errors=errors, workers=worker_rows(request),
        progress=in_progress(services.store), refresh=REFRESH_SECONDS,
        limits=thresholds(services), beats=LATE_AFTER_BEATS,
    )  # fmt: skip


@router.post("/admin/runners/settings")
def save_settings(request: Request, posted: AdminForm) -> Response:
    fields = setting_fields()
    raw = {f.name: posted.text(f.name) for f in fields}
    data, errors = parse_settings(fields, raw)
    try:  # fields that did not parse are left out: the model still checks all the others
        settings = RunnerSettings.model_validate({k: v for k, v in data.items() if k not in errors})
    except ValidationError as exc:
        errors = {**field_errors(exc, {f.name: f for f in fields}), **errors}
    if errors:
        return runners_form(request, raw, errors, status_code=422)
    ScheduleStore(services_of(request).store).put_settings(settings, datetime.now(UTC))
    message = "Runner settings saved: runs queued from now on use them."
    return done("/admin/runners", message, posted.session)


def parse_settings(
    fields: list[SettingField], raw: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Form text to model input (blank optional → None); errors the model cannot word."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        text = raw[field.name].strip()
        if field.kind == "map":
            data[field.name], problem = parse_lines(text)
        elif field.kind == "bool":
            data[field.name], problem = bool(text), ""
        elif not text:
            data[field.name] = None
            problem = "" if field.optional else "Needs a value."
        else:
            data[field.name], problem = text, number_problem(field.kind, text)
        if problem:
            errors[field.name] = problem
    return data, errors


def number_problem(kind: str, text: str) -> str:
    if kind not in ("int", "float"):
        return ""
    try:
        number = float(text)
    except ValueError:
        return f"'{text[:40]}' is not a number."
    if not math.isfinite(number):
        return "Needs a finite number."
    if kind == "int" and not number.is_integer():
        return f"Needs a whole number, not {text[:40]}."
    return ""


def parse_lines(text: str) -> tuple[dict[str, str], str]:
    """`journey = N` lines (blank lines and `#` comments skipped) to a mapping."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.replace(":", "=", 1).partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            return found, f"Line {number}: write journey-name = N (got '{line[:60]}')."
        if key in found:
            return found, f"Line {number}: journey '{key[:60]}' is listed twice."
        problem = number_problem("int", value)
        if problem:
            return found, f"Line {number} ({key[:60]}): {problem}"
        found[key] = value
    return found, ""


def field_errors(exc: ValidationError, fields: dict[str, SettingField]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors(include_input=False):
        loc = [str(part) for part in error["loc"]]
        name = loc[0] if loc and loc[0] in fields else "form"
        where = (
            f"journey '{loc[1]}': "
            if len(loc) > 1 and fields.get(name) and fields[name].kind == "map"
            else ""
        )
        errors.setdefault(name, where + str(error["msg"]) + ".")
    return errors
