"""Run-wide limits from the cloud runner settings, at the engine level: the step timeout
cap and the extra attempts after transport errors (RunContext fields)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from engine_helpers import make_artifact, make_context, serve
from reqflo.artifact import AssertionPlan, RequestPlan, RetryPlan, StepPlan
from reqflo.http import AiohttpTransport, HttpRequest
from reqflo.runner.engine import run_instance
from reqflo.runner.results import InstanceResult
from reqflo.runner.step import capped_timeout
from test_cloud_support import free_port


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    async with AiohttpTransport(concurrency=4) as transport:
        yield transport


def slow_app() -> web.Application:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "2")))
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/slow", slow)
    return app


def get_step(url: str, *, timeout_ms: int = 30_000, retry: RetryPlan | None = None) -> StepPlan:
    return StepPlan(
        id="call",
        name="call",
        request=RequestPlan(method="GET", url=url, timeout_ms=timeout_ms),
        retry=retry or RetryPlan(),
        assertions=(AssertionPlan(type="status_code", expected=200),),
    )


async def run_one(step: StepPlan, transport: AiohttpTransport, **options: object) -> InstanceResult:
    ctx = make_context(transport, **options)
    return await run_instance(make_artifact(step), {}, 0, "k", ctx, lambda event: None)


def test_capped_timeout_keeps_the_smaller_one() -> None:
    request = HttpRequest(method="GET", url="http://x", timeout_s=30.0)
    assert capped_timeout(request, None) is request
    assert capped_timeout(request, 5.0).timeout_s == 5.0
    assert (
        capped_timeout(HttpRequest(method="GET", url="http://x", timeout_s=2.0), 5.0).timeout_s
        == 2.0
    )


async def test_step_timeout_cap_turns_a_slow_step_into_a_timeout(
    transport: AiohttpTransport,
) -> None:
    async with serve(slow_app()) as base:
        step = get_step(f"{base}/slow?s=2")
        result = await run_one(step, transport, step_timeout_seconds=0.2)
    call = result.steps[0]
    assert call.status == "error"
    assert call.error is not None and call.error.code == "timeout"
    assert call.attempts[0].request is not None


async def test_a_smaller_step_timeout_still_applies_under_the_cap(
    transport: AiohttpTransport,
) -> None:
    async with serve(slow_app()) as base:
        step = get_step(f"{base}/slow?s=2", timeout_ms=200)
        result = await run_one(step, transport, step_timeout_seconds=60.0)
    assert result.steps[0].error is not None
    assert result.steps[0].error.code == "timeout"


async def test_without_a_cap_the_step_timeout_decides(transport: AiohttpTransport) -> None:
    async with serve(slow_app()) as base:
        result = await run_one(get_step(f"{base}/slow?s=0.3"), transport)
    assert result.steps[0].status == "passed"


async def test_transport_retries_add_attempts_after_a_connection_error(
    transport: AiohttpTransport,
) -> None:
    step = get_step(f"http://127.0.0.1:{free_port()}/closed")
    result = await run_one(
        step, transport, transport_retries=2, transport_retry_backoff_seconds=0.01
    )
    call = result.steps[0]
    assert call.status == "error"
    assert [a.number for a in call.attempts] == [1, 2, 3]
    assert all(a.error is not None and a.error.code == "connection-error" for a in call.attempts)


async def test_transport_retries_come_after_the_step_retry_plan(
    transport: AiohttpTransport,
) -> None:
    step = get_step(
        f"http://127.0.0.1:{free_port()}/closed", retry=RetryPlan(attempts=2, interval_ms=1)
    )
    result = await run_one(step, transport, transport_retries=1, transport_retry_backoff_seconds=0)
    assert len(result.steps[0].attempts) == 3


async def test_local_runs_keep_one_attempt_per_planned_try(transport: AiohttpTransport) -> None:
    result = await run_one(get_step(f"http://127.0.0.1:{free_port()}/closed"), transport)
    assert len(result.steps[0].attempts) == 1


async def test_transport_retries_do_not_repeat_a_failed_assertion(
    transport: AiohttpTransport,
) -> None:
    calls = 0

    async def missing(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/missing", missing)
    async with serve(app) as base:
        result = await run_one(get_step(f"{base}/missing"), transport, transport_retries=3)
    assert result.steps[0].status == "failed"
    assert len(result.steps[0].attempts) == 1
    assert calls == 1
