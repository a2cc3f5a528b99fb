"""The execution engine: runs an artifact's steps for one instance, or for a data group.

Owns `RunContext` (everything a run needs besides the artifact and its values),
`run_instance` and `run_group`; `SecretSource` (re-exported) lives in preflight.

    ctx = RunContext(transport=AiohttpTransport(concurrency=20), secrets=LocalSecrets(...),
                     environment="sandbox", env={"base_url": ...}, concurrency=20)
    result = await run_instance(artifact, values, 0, "default", ctx, reporter.handle)
    summary = await run_group(artifact, rows, ctx, reporter, key_column="email")

Before any request of an instance the engine checks (reqflo.runner.preflight), in this
order, and turns the first problem into an errored `InstanceResult` (no step runs, no
request is sent): required inputs (`missing-input`), input types (`invalid-input`),
every secret the plan needs (`missing-secret`, naming the secret and the environment,
never a value), every environment value it needs (`missing-environment-value`) and every
`me` value it needs (`missing-input`). Values arrive merged by the caller (case <
`--set` < data row); the engine applies input defaults and types.

Steps run in order (see reqflo.runner.step); a failed or errored step stops the instance
unless it has `continue_on_failure`. An instance is `error` if any step errored, else
`failed` if any step failed, else `passed`. Each instance has its own scope, cookie store
and redactor (every resolved secret plus every `secret: true` output); everything in a
result or an event has been through that redactor.

`run_group` runs one instance per row (a values mapping, or an `InstanceSpec` naming its
key and origin) with at most `ctx.concurrency` in flight. Rows are pulled lazily from any
iterable or async iterable, and each finished instance goes to the reporter and is then
dropped, so memory stays flat however many rows there are. With `ctx.fail_fast`, no new
instance starts after the first one that did not pass. A single run is a group of one
row, so it gets the same events. Event order: RunStarted; per instance InstanceStarted,
StepStarted/StepFinished for each step, InstanceFinished; finally RunFinished. A
reporter with an `event_kinds` set (asked after RunStarted) gets only those kinds of
InstanceStarted/StepStarted/StepFinished, which are then not even made (a data run's
console wants finished instances only). The caller owns (and closes) the transport and
the reporter.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sized
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reqflo.artifact import Artifact
from reqflo.diagnostics import RunSetupError
from reqflo.http import Transport
from reqflo.runner.build import OAuthTokens
from reqflo.runner.events import (
    AnyEvent,
    InstanceFinished,
    InstanceStarted,
    Reporter,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from reqflo.runner.evidence import BODY_LIMIT, Redacts, SharedRedactors, step_error
from reqflo.runner.preflight import CachedSecrets, SecretSource, check_setup, resolve_secrets
from reqflo.runner.results import (
    InstanceResult,
    InstanceStatus,
    RunSummary,
    StepError,
    StepResult,
    StepStatus,
    summarize_status,
)
from reqflo.runner.scope import InstanceScope
from reqflo.runner.step import InstanceState, StepDeps, run_step
from reqflo.values import to_text

Emit = Callable[[AnyEvent], None]


@dataclass(frozen=True)
class InstanceSpec:
    """One row of a group with its own name: merged `values`, the instance `key`
    (default: the key column, else the 1-based row number) and `where` it came from
    ("row 12, line 13"), used in setup error messages."""

    values: Mapping[str, Any]
    key: str | None = None
    where: str | None = None
    index: int | None = None  # the instance number; None: numbered in arrival order


Row = Mapping[str, Any] | InstanceSpec


@dataclass(frozen=True)
class RunContext:
    """Everything a run needs besides the artifact and the instance values."""

    transport: Transport
    secrets: SecretSource
    environment: str | None = None
    env: Mapping[str, Any] = field(default_factory=dict)
    me: Mapping[str, Any] = field(default_factory=dict)
    concurrency: int = 10
    fail_fast: bool = False
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    base_dir: Path = field(default_factory=Path.cwd)
    body_limit: int = BODY_LIMIT
    tokens: OAuthTokens = field(default_factory=OAuthTokens)
    redactors: SharedRedactors = field(default_factory=SharedRedactors)
    # cloud runner settings (reqflo.runner.step "Run-wide limits"); defaults: no limit
    step_timeout_seconds: float | None = None
    transport_retries: int = 0
    transport_retry_backoff_seconds: float = 0.0


# ---------------------------------------------------------------- one instance


async def run_instance(
    artifact: Artifact,
    values: Mapping[str, Any],
    index: int,
    key: str,
    ctx: RunContext,
    emit: Emit,
    *,
    where: str = "",
    skip: frozenset[str] = frozenset(),
) -> InstanceResult:
    """Run every step for one set of values; emits events and returns the result.

    `where` ("row 12") is added to setup error messages. Event kinds in `skip`
    (instance_started, step_started, step_finished: nobody wants them) are not made.
    """
    started_at, clock = time.time(), time.perf_counter()
    if "instance_started" not in skip:
        emit(InstanceStarted(instance=index, key=key))
    secrets, missing_secrets = resolve_secrets(artifact.plan.needs.secrets, ctx.secrets)
    redactor = ctx.redactors.for_secrets(secrets.values())
    try:
        inputs = check_setup(
            artifact.plan,
            values,
            missing_secrets,
            environment=ctx.environment,
            env=ctx.env,
            me=ctx.me,
            where=where,
        )
    except RunSetupError as exc:
        result = InstanceResult(
            index=index,
            key=key,
            status="error",
            error=step_error(exc.code, str(exc), redactor),
            inputs=redactor.redact_value(dict(values)),
            started_at=started_at,
            duration_ms=_ms_since(clock),
        )
        emit(InstanceFinished(result=result))
        return result
    state = InstanceState(
        InstanceScope(inputs, ctx.env, secrets, ctx.me, run_identity(ctx.run_id, index, key)),
        redactor,
        ctx.transport.new_cookie_store(),
    )
    steps = await _run_steps(artifact, index, ctx, state, emit, skip)
    result = InstanceResult(
        index=index,
        key=key,
        status=instance_status(s.status for s in steps),
        steps=tuple(steps),
        inputs=redactor.redact_value(inputs),
        started_at=started_at,
        duration_ms=_ms_since(clock),
        logs=tuple(state.logs),
    )
    emit(InstanceFinished(result=result))
    return result


async def _run_steps(
    artifact: Artifact,
    index: int,
    ctx: RunContext,
    state: InstanceState,
    emit: Emit,
    skip: frozenset[str],
) -> list[StepResult]:
    deps = StepDeps(
        artifact, ctx.transport, ctx.base_dir, ctx.tokens, ctx.body_limit,
        step_timeout_s=ctx.step_timeout_seconds, transport_retries=ctx.transport_retries,
        transport_retry_backoff_s=ctx.transport_retry_backoff_seconds,
    )  # fmt: skip
    results: list[StepResult] = []
    started, finished = "step_started" not in skip, "step_finished" not in skip
    for step_index, step in enumerate(artifact.plan.steps):
        if started:
            emit(StepStarted(instance=index, step=step_index, step_id=step.id))
        try:
            result = await run_step(step_index, deps, state)
        except Exception as exc:  # a bug must not take the other instances down
            result = _internal_error(step_index, deps, state, exc)
        if finished:
            emit(StepFinished(instance=index, result=result))
        results.append(result)
        if result.status in {"failed", "error"} and not step.continue_on_failure:
            break
    return results


def _internal_error(
    step_index: int, deps: StepDeps, state: InstanceState, exc: Exception
) -> StepResult:
    """An unexpected exception of run_step, recorded as an `internal-error` step."""
    step = deps.artifact.plan.steps[step_index]
    error = step_error("internal-error", f"{type(exc).__name__}: {exc}", state.redactor)
    return StepResult(index=step_index, id=step.id, name=step.name, status="error", error=error)


def run_identity(run_id: str, index: int, key: str) -> dict[str, Any]:
    """The `run` root of an instance's scope."""
    return {"id": run_id, "instance": index, "key": key}


def instance_status(step_statuses: Iterable[StepStatus]) -> InstanceStatus:
    statuses = set(step_statuses)
    if "error" in statuses:
        return "error"
    if "indeterminate" in statuses:
        return "indeterminate"
    return "failed" if "failed" in statuses else "passed"


def _ms_since(clock: float) -> float:
    return round((time.perf_counter() - clock) * 1000, 3)


# ---------------------------------------------------------------- a data group


@dataclass
class _Tally:
    passed: int = 0
    failed: int = 0
    errored: int = 0
    cancelled: int = 0

    def add(self, status: InstanceStatus) -> None:
        if status == "passed":
            self.passed += 1
        elif status == "failed":
            self.failed += 1
        elif status == "cancelled":
            self.cancelled += 1
        else:
            self.errored += 1

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errored + self.cancelled


async def run_group(
    artifact: Artifact,
    rows: Iterable[Row] | AsyncIterable[Row],
    ctx: RunContext,
    reporter: Reporter,
    *,
    key_column: str | None = None,
) -> RunSummary:
    """Run one instance per row with bounded concurrency, streaming results to `reporter`."""
    started_at, clock = time.time(), time.perf_counter()
    reporter.handle(
        RunStarted(
            run_id=ctx.run_id,
            artifact_id=artifact.id,
            journey=artifact.plan.journey.name,
            environment=ctx.environment,
            total=len(rows) if isinstance(rows, Sized) else None,
            started_at=started_at,
        )
    )
    ctx = replace(ctx, secrets=CachedSecrets(ctx.secrets))
    tally = await _GroupRun(artifact, rows, ctx, reporter, key_column).run()
    summary = RunSummary(
        run_id=ctx.run_id,
        artifact_id=artifact.id,
        journey=artifact.plan.journey.name,
        environment=ctx.environment,
        status=summarize_status(tally.passed, tally.failed, tally.errored),
        total=tally.total,
        passed=tally.passed,
        failed=tally.failed,
        errored=tally.errored,
        cancelled=tally.cancelled,
        started_at=started_at,
        duration_ms=_ms_since(clock),
    )
    reporter.handle(RunFinished(summary=summary))
    return summary


class _GroupRun:
    """A pool of `ctx.concurrency` workers pulling rows one at a time.

    Rows from a plain iterable are taken with `next()`, which never yields to the event
    loop, so no lock is needed; an async iterable is read under a lock."""

    def __init__(
        self,
        artifact: Artifact,
        rows: Iterable[Row] | AsyncIterable[Row],
        ctx: RunContext,
        reporter: Reporter,
        key_column: str | None,
    ) -> None:
        self.sync_rows = None if isinstance(rows, AsyncIterable) else iter(rows)
        self.rows = _aiter(rows if self.sync_rows is None else self.sync_rows)
        self.artifact, self.ctx = artifact, ctx
        self.reporter, self.key_column = reporter, key_column
        self.tally = _Tally()
        self.skip = unwanted_kinds(reporter)
        self.next_index = 0
        self.lock = asyncio.Lock()
        self.stopped = False

    async def run(self) -> _Tally:
        workers = [asyncio.create_task(self._worker()) for _ in range(max(1, self.ctx.concurrency))]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        if self.stopped:
            await self._report_not_started()
        return self.tally

    async def _report_not_started(self) -> None:
        """After --fail-fast: every remaining row is reported `cancelled`, never dropped."""
        error = StepError(code="cancelled", message="not started: --fail-fast stopped the run")
        async for row in self.rows:
            spec = row if isinstance(row, InstanceSpec) else InstanceSpec(row)
            index = self.next_index if spec.index is None else spec.index
            self.next_index += 1
            key = spec.key or self._key(spec.values, index)
            result = InstanceResult(index=index, key=key, status="cancelled", error=error)
            self.reporter.handle(InstanceFinished(result=result))
            self.tally.add("cancelled")

    async def _next_row(self) -> tuple[int, Row] | None:
        if self.sync_rows is not None:
            return self._numbered(None if self.stopped else next(self.sync_rows, None))
        async with self.lock:
            if self.stopped:
                return None
            return self._numbered(await anext(self.rows, None))

    def _numbered(self, row: Row | None) -> tuple[int, Row] | None:
        if row is None:
            return None
        index, self.next_index = self.next_index, self.next_index + 1
        return index, row

    async def _worker(self) -> None:
        while (item := await self._next_row()) is not None:
            index, row = item
            spec = row if isinstance(row, InstanceSpec) else InstanceSpec(row)
            index = index if spec.index is None else spec.index
            result = await run_instance(
                self.artifact,
                spec.values,
                index,
                spec.key or self._key(spec.values, index),
                self.ctx,
                self.reporter.handle,
                where=spec.where or f"row {index + 1}",
                skip=self.skip,
            )
            self.tally.add(result.status)
            if self.ctx.fail_fast and result.status != "passed":
                self.stopped = True

    def _key(self, row: Mapping[str, Any], index: int) -> str:
        if self.key_column is not None and row.get(self.key_column) not in (None, ""):
            return to_text(row[self.key_column])
        return str(index + 1)


_OPTIONAL_KINDS = frozenset({"instance_started", "step_started", "step_finished"})


def unwanted_kinds(reporter: Reporter) -> frozenset[str]:
    """Event kinds no reporter wants (a reporter's `event_kinds`, None: it wants all),
    asked once the reporter has seen RunStarted."""
    kinds = getattr(reporter, "event_kinds", None)
    return frozenset() if kinds is None else _OPTIONAL_KINDS - frozenset(kinds)


async def _aiter(rows: Iterable[Row] | AsyncIterable[Row]) -> AsyncIterator[Row]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row


__all__ = [
    "Emit",
    "InstanceSpec",
    "Redacts",
    "RunContext",
    "SecretSource",
    "instance_status",
    "run_group",
    "run_instance",
]
