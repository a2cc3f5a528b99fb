"""Web UI pages: runs — list, detail with evidence, instances, diff, start, rerun, cancel.

Routes (viewer unless said otherwise):
- GET /runs                 the list, filtered (journey, status, environment, trigger,
                            created from/to) and paged; GET /runs/table is its table alone,
                            polled by htmx every second while a listed run is active.
- GET /runs/new (editor)    the "Start a run" form; POST /runs/new submits it exactly as
                            `POST /api/v1/runs` would (reqflo.cloud.web.run_form).
- GET /runs/{id}            facts, live progress (GET /runs/{id}/progress, polled while
                            the run is active; answers `HX-Refresh` when it ends), the
                            instances (paged, failed only) or the single instance's evidence.
- GET /runs/{id}/instances/{index}  one instance's evidence: steps, attempts, assertions.
- GET /runs/{id}/diff       against the previous run of the journey (reqflo.cloud.web.run_diff),
                            changed instances paged by `limit` and `after`.
- POST /runs/{id}/rerun, POST /runs/{id}/cancel (editor): the API's rerun and cancel.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from reqflo.cloud.api_models import MAX_OFFSET
from reqflo.cloud.api_runs import cancel_run, rerun
from reqflo.cloud.web import run_form
from reqflo.cloud.web.run_diff import diff_page as diff_page_of
from reqflo.cloud.web.run_evidence import evidence_helpers, instance_result
from reqflo.cloud.web.schedule_forms import FormError
from reqflo.cloud.web.session import (
    Editor,
    EditorForm,
    PageNotFound,
    Viewer,
    done,
    services_of,
)
from reqflo.cloud.web.templating import render
from reqflo.store import RunFilter, RunRecord
from reqflo.store.models import RUN_STATUSES
from reqflo.store.run_diff_views import BadCursor, DiffCursor
from reqflo.store.run_views import ACTIVE, RunViews
from reqflo.store.schedule_store import ScheduleStore

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
TRIGGERS = ("api", "rerun", "schedule")
FILTERS = ("journey", "status", "environment", "trigger", "from", "to")
DIFF_PAGE, MAX_DIFF_PAGE = 100, 500  # changed instances a diff page lists


def views(request: Request) -> RunViews:
    return RunViews(services_of(request).store)


# ------------------------------------------------------------------ list


def run_query(params: dict[str, str]) -> tuple[RunFilter, str]:
    """The list's filters from the query string: (query, the problems to show or '')."""
    since, problem_from = _day(params, "from")
    until, problem_to = _day(params, "to")
    problems = [p for p in (problem_from, problem_to) if p]
    status = params.get("status") or None
    if status is not None and status not in RUN_STATUSES:
        problems.append(f"status: one of {', '.join(RUN_STATUSES)}")
        status = None
    query = RunFilter(
        journey=params.get("journey") or None, status=status,
        environment=params.get("environment") or None, trigger=params.get("trigger") or None,
        since=_midnight(since), until=_midnight(until + timedelta(days=1) if until else None),
    )  # fmt: skip
    return query, "; ".join(problems)


def _day(params: dict[str, str], name: str) -> tuple[date | None, str]:
    text = params.get(name, "")
    try:
        day = date.fromisoformat(text) if text else None
    except ValueError:
        return None, f"{name}: expected a date like 2026-01-31, got '{text[:40]}'"
    if day is not None and not date.min < day < date.max:
        return None, f"{name}: a date after 0001-01-01 and before 9999-12-31"
    return day, ""


def _midnight(day: date | None) -> datetime | None:
    return datetime.combine(day, time(), UTC) if day else None


def list_context(request: Request) -> dict[str, Any]:
    params = {k: v for k, v in request.query_params.items() if k in FILTERS and v}
    query, problem = run_query(params)
    offset = offset_of(request)
    runs, total = services_of(request).store.runs(query, PAGE_SIZE, offset)
    names = views(request).token_names(r.requested_by for r in runs)
    return {
        "runs": runs, "total": total, "limit": PAGE_SIZE, "offset": offset,
        "params": params, "query": urlencode(params), "problem": problem,
        "live": any(r.status in ACTIVE for r in runs), "names": names,
    }  # fmt: skip


def offset_of(request: Request) -> int:
    """The `offset` query parameter as a page start: 0 when absent, negative or not a number."""
    text = request.query_params.get("offset", "")
    if not (text.isascii() and text.isdigit()):
        return 0
    return min(int(text), MAX_OFFSET) if len(text) < 12 else MAX_OFFSET


def index_of(text: str) -> int | None:
    """An instance index from the URL: None for anything but a plain decimal number."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


@router.get("/runs")
def runs_page(request: Request, me: Viewer) -> Response:
    found = views(request)
    context = list_context(request)
    return render(
        request, "runs/list.html", 400 if context["problem"] else 200, section="runs",
        journeys=found.journeys(), environments=found.environments(), statuses=RUN_STATUSES,
        triggers=TRIGGERS, **context,
    )  # fmt: skip


@router.get("/runs/table")
def runs_table(request: Request, me: Viewer) -> Response:
    return render(request, "runs/_table.html", **list_context(request))


# ------------------------------------------------------------------ start a run


def start_context(request: Request, chosen: run_form.StartForm) -> dict[str, Any]:
    store = services_of(request).store
    artifact = store.artifact(chosen.artifact) if chosen.artifact else None
    return {
        "form": chosen,
        "artifacts": views(request).artifacts(),
        "environments": [e.name for e in store.environments()],
        "plan": artifact.plan if artifact else None,
    }


@router.get("/runs/new")
def start_page(request: Request, me: Editor) -> Response:
    """?artifact=ID or ?journey=NAME (its latest artifact); other fields refill the form."""
    chosen = run_form.StartForm.of(request.query_params)
    journey, problem = request.query_params.get("journey", ""), ""
    if not chosen.artifact and journey:
        latest = ScheduleStore(services_of(request).store).latest_artifact_id(journey)
        chosen = replace(chosen, artifact=latest or "")
        problem = "" if latest else f"journey '{journey}' has no uploaded artifact"
    elif chosen.artifact and services_of(request).store.artifact_record(chosen.artifact) is None:
        problem = f"artifact {chosen.artifact} is not uploaded"
    context = start_context(request, chosen)
    if "environment" not in request.query_params and len(context["environments"]) == 1:
        context["form"] = replace(chosen, environment=context["environments"][0])
    return render(
        request, "runs/new.html", 404 if problem else 200, section="runs",
        problem=problem, **context,
    )  # fmt: skip


@router.post("/runs/new")
def start_run(request: Request, posted: EditorForm) -> Response:
    chosen = run_form.StartForm.of(posted.fields)
    try:
        run = run_form.submit(services_of(request), posted.session.token, chosen)
    except FormError as problem:
        return render(
            request, "runs/new.html", problem.status, section="runs",
            problem=str(problem), **start_context(request, chosen),
        )  # fmt: skip
    return done(f"/runs/{run.id}", "Run started.", posted.session)


# ------------------------------------------------------------------ one run


def existing(request: Request, run_id: str) -> RunRecord:
    record = services_of(request).store.run(run_id)
    if record is None:
        raise PageNotFound(f"run '{run_id}' does not exist")
    return record


def run_state(run: RunRecord) -> dict[str, Any]:
    """What the polled fragments (progress, instances) show of a run: no query."""
    return {"run": run, "elapsed_ms": _elapsed_ms(run), "live": run.status in ACTIVE}


def run_facts(request: Request, run: RunRecord) -> dict[str, Any]:
    """`run_state` and what only the full run page shows (its artifact, who asked)."""
    store = services_of(request).store
    return {
        **run_state(run), "artifact": store.artifact_record(run.artifact_id),
        "requested_by": _token_name(request, run.requested_by),
    }  # fmt: skip


def _token_name(request: Request, token_id: str) -> str:
    """The name of the token with this id (the id itself when it is gone)."""
    return views(request).token_names([token_id]).get(token_id, token_id)


def _elapsed_ms(run: RunRecord) -> float | None:
    if run.started_at is None:
        return None
    end = run.finished_at or datetime.now(UTC)
    return (end - run.started_at).total_seconds() * 1000


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str, me: Viewer) -> Response:
    return show_run(request, existing(request, run_id))


def show_run(request: Request, run: RunRecord, status_code: int = 200, **flash: Any) -> Response:
    found = views(request)
    single = found.instance(run.id, 0) if run.total == 1 else None
    return render(
        request, "runs/detail.html", status_code, section="runs", **run_facts(request, run),
        **instances_context(request, run), single=instance_result(single),
        previous=found.previous(run), **evidence_helpers(), **flash,
    )  # fmt: skip


def instances_context(request: Request, run: RunRecord) -> dict[str, Any]:
    """One page of a run's instances (?failed=1: failed ones only; ?offset=N)."""
    failed_only = request.query_params.get("failed") == "1"
    offset = offset_of(request)
    instances, matching = views(request).instance_page(run.id, failed_only, PAGE_SIZE, offset)
    return {
        "instances": instances, "matching": matching, "failed_only": failed_only,
        "offset": offset, "limit": PAGE_SIZE,
    }  # fmt: skip


@router.get("/runs/{run_id}/instances")
def run_instances(request: Request, run_id: str, me: Viewer) -> Response:
    """The instances table alone: what the run page polls while a data run is active."""
    run = existing(request, run_id)
    context = {**run_state(run), **instances_context(request, run)}
    return render(request, "runs/_instances.html", **context)


@router.get("/runs/{run_id}/progress")
def run_progress(request: Request, run_id: str, me: Viewer) -> Response:
    run = existing(request, run_id)
    if run.status not in ACTIVE and request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Refresh": "true"})
    return render(request, "runs/_progress.html", **run_state(run))


@router.get("/runs/{run_id}/instances/{index}")
def instance_page(request: Request, run_id: str, index: str, me: Viewer) -> Response:
    run = existing(request, run_id)
    number = index_of(index)
    record = views(request).instance(run.id, number) if number is not None else None
    if record is None:
        raise PageNotFound(f"run {run_id} has no instance {index[:20]} (yet)")
    return render(
        request, "runs/instance.html", section="runs", run=run,
        result=instance_result(record), **evidence_helpers(),
    )  # fmt: skip


@router.get("/runs/{run_id}/diff")
def diff_page(request: Request, run_id: str, me: Viewer) -> Response:
    """One page of changed instances (`limit`, `after`: the previous page's `next`)."""
    run = existing(request, run_id)
    against = request.query_params.get("against")
    previous = existing(request, against) if against else views(request).previous(run)
    after, limit = diff_paging(request.query_params.get("after"), request.query_params.get("limit"))
    diff = None
    if previous is not None:
        diff = diff_page_of(services_of(request).store, previous, run, after, limit)
    return render(request, "runs/diff.html", section="runs", run=run, previous=previous,
                  diff=diff, limit=limit, against=against or "")  # fmt: skip


def diff_paging(after: str | None, limit: str | None) -> tuple[DiffCursor | None, int]:
    """The diff page's paging parameters; a precise 400 page for a bad one."""
    try:
        cursor = DiffCursor.parse(after) if after is not None else None
    except BadCursor as exc:
        raise HTTPException(400, f"after: {exc}") from exc
    if limit is None:
        return cursor, DIFF_PAGE
    number = limit.isascii() and limit.isdigit() and len(limit) < 5
    if not number or not 0 < int(limit) <= MAX_DIFF_PAGE:
        raise HTTPException(400, f"limit: a whole number from 1 to {MAX_DIFF_PAGE}, got "
                                 f"'{limit[:20]}'")  # fmt: skip
    return cursor, int(limit)


@router.post("/runs/{run_id}/rerun")
def rerun_run(request: Request, run_id: str, posted: EditorForm) -> Response:
    old = existing(request, run_id)
    try:
        new = rerun(old.id, posted.session.token, services_of(request))
    except HTTPException as exc:
        return refused(request, old, f"Rerun refused: {exc.detail}")
    return done(f"/runs/{new.id}", "Rerun started.", posted.session)


@router.post("/runs/{run_id}/cancel")
def cancel(request: Request, run_id: str, posted: EditorForm) -> Response:
    run = existing(request, run_id)
    try:
        cancel_run(run.id, services_of(request))
    except HTTPException as exc:
        return refused(request, run, f"Not cancelled: {exc.detail}")
    return done(f"/runs/{run.id}", "Run cancelled.", posted.session)


def refused(request: Request, run: RunRecord, message: str) -> Response:
    """The run page again (409) with why the button did nothing."""
    current = existing(request, run.id)
    return show_run(request, current, 409, flash=message, flash_kind="error")
