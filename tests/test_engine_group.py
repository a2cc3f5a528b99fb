"""Data groups, cookies per instance, redirects, transport errors and evidence limits."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from engine_helpers import CollectingReporter, make_artifact, make_context, serve
from reqflo.artifact import (
    AssertionPlan,
    BodyPlan,
    InputPlan,
    OutputPlan,
    RequestPlan,
    RetryPlan,
    StepPlan,
)
from reqflo.http import AiohttpTransport
from reqflo.runner.engine import InstanceSpec, run_group, run_instance
from reqflo.runner.events import RunFinished, RunStarted


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    async with AiohttpTransport(concurrency=20) as transport:
        yield transport


def session_app() -> web.Application:
    async def login(request: web.Request) -> web.Response:
        await asyncio.sleep(0.01)  # let concurrent instances interleave
        response = web.json_response({"user": request.match_info["user"]})
        response.set_cookie("session", request.match_info["user"])
        return response

    async def whoami(request: web.Request) -> web.Response:
        await asyncio.sleep(0.01)
        return web.json_response({"session": request.cookies.get("session")})

    async def redirect(request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        response = web.Response(status=status, headers={"Location": "/landing"})
        response.set_cookie("hop", f"via-{status}")
        return response

    async def landing(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "method": request.method,
                "body": await request.text(),
                "hop": request.cookies.get("hop"),
            }
        )

    async def big(request: web.Request) -> web.Response:
        return web.Response(text="x" * 200_000)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/login/{user}", login)
    app.router.add_get("/whoami", whoami)
    app.router.add_route("*", "/redirect/{status}", redirect)
    app.router.add_route("*", "/landing", landing)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    return app


SESSION_STEPS = (
    StepPlan(
        id="login",
        name="login",
        request=RequestPlan(method="POST", url="{{ env.base_url }}/login/{{ inputs.user }}"),
    ),
    StepPlan(
        id="whoami",
        name="whoami",
        request=RequestPlan(method="GET", url="{{ env.base_url }}/whoami"),
        assertions=(
            AssertionPlan(type="json_path", path="$.session", expected="{{ inputs.user }}"),
        ),
    ),
)


async def test_data_group_of_300_rows_streams_every_instance(transport: AiohttpTransport) -> None:
    artifact = make_artifact(*SESSION_STEPS, inputs=(InputPlan(name="user", required=True),))
    reporter = CollectingReporter()
    rows = ({"user": f"user{i}"} for i in range(300))  # a generator: no len, pulled lazily
    async with serve(session_app()) as base:
        ctx = make_context(transport, env={"base_url": base}, concurrency=20)
        summary = await run_group(artifact, rows, ctx, reporter, key_column="user")
    instances = reporter.instances()
    assert (summary.total, summary.passed, summary.status) == (300, 300, "passed")
    assert len(instances) == 300
    assert sorted(r.index for r in instances) == list(range(300))
    assert {r.key for r in instances} == {f"user{i}" for i in range(300)}
    assert all(r.status == "passed" for r in instances)  # cookies never crossed instances
    assert isinstance(reporter.events[0], RunStarted) and reporter.events[0].total is None
    assert isinstance(reporter.events[-1], RunFinished)
    assert not reporter.closed  # the caller owns the reporter


async def test_async_rows_and_fail_fast_stop_scheduling(transport: AiohttpTransport) -> None:
    artifact = make_artifact(*SESSION_STEPS, inputs=(InputPlan(name="user", required=True),))
    pulled = 0

    async def rows() -> AsyncIterator[dict[str, Any]]:
        nonlocal pulled
        for i in range(100):
            pulled += 1
            yield {"user": f"u{i}"} if i != 2 else {}

    reporter = CollectingReporter()
    async with serve(session_app()) as base:
        ctx = make_context(transport, env={"base_url": base}, concurrency=2, fail_fast=True)
        summary = await run_group(artifact, rows(), ctx, reporter)
    assert summary.errored == 1
    assert summary.status == "error"
    started = [r for r in reporter.instances() if r.status != "cancelled"]
    assert len(started) < 10  # no new instance started after the failure
    assert summary.total == pulled == 100 and summary.cancelled == 100 - len(started)
    cancelled = [r for r in reporter.instances() if r.status == "cancelled"]
    assert all(r.error and r.error.code == "cancelled" and not r.steps for r in cancelled)
    failed = [r for r in reporter.instances() if r.status == "error"]
    assert failed[0].error is not None
    assert failed[0].error.message == "missing required input 'user' (row 3)"


@pytest.mark.parametrize(("status", "method", "body"), [(303, "GET", ""), (307, "POST", "payload")])
async def test_redirects_through_the_engine(
    transport: AiohttpTransport,
    status: int,
    method: str,
    body: str,
) -> None:
    step = StepPlan(
        id="go",
        name="go",
        request=RequestPlan(
            method="POST",
            url=f"{{{{ env.base_url }}}}/redirect/{status}",
            body=BodyPlan(kind="text", value="payload"),
        ),
        outputs=(
            OutputPlan(name="final", source="url"),
            OutputPlan(name="hop", source="cookie", key="hop"),
        ),
        assertions=(
            AssertionPlan(type="json_path", path="$.method", expected=method),
            AssertionPlan(type="json_path", path="$.body", expected=body),
            AssertionPlan(type="json_path", path="$.hop", expected=f"via-{status}"),
        ),
    )
    async with serve(session_app()) as base:
        result = await run_instance(
            make_artifact(step),
            {},
            0,
            "k",
            make_context(transport, env={"base_url": base}),
            lambda event: None,
        )
    assert result.status == "passed", result.steps[0].assertions
    assert result.steps[0].outputs == {"final": f"{base}/landing", "hop": f"via-{status}"}


async def test_timeout_is_a_step_error_retried_while_attempts_remain(
    transport: AiohttpTransport,
) -> None:
    step = StepPlan(
        id="slow",
        name="slow",
        request=RequestPlan(method="GET", url="{{ env.base_url }}/slow", timeout_ms=100),
        retry=RetryPlan(attempts=2, interval_ms=1),
    )
    async with serve(session_app()) as base:
        result = await run_instance(
            make_artifact(step),
            {},
            0,
            "k",
            make_context(transport, env={"base_url": base}),
            lambda event: None,
        )
    step_result = result.steps[0]
    assert step_result.status == "error" and result.status == "error"
    assert step_result.error is not None and step_result.error.code == "timeout"
    assert [a.error.code for a in step_result.attempts if a.error] == ["timeout", "timeout"]
    assert step_result.attempts[0].request is not None
    assert step_result.attempts[0].response is None


async def test_connection_refused_is_a_step_error(transport: AiohttpTransport) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    step = StepPlan(
        id="down", name="down", request=RequestPlan(method="GET", url=f"http://127.0.0.1:{port}/")
    )
    result = await run_instance(
        make_artifact(step), {}, 0, "k", make_context(transport), lambda event: None
    )
    error = result.steps[0].error
    assert error is not None and error.code == "connection-error"
    assert f"127.0.0.1:{port}" in error.message


async def test_large_bodies_are_truncated_with_a_marker(transport: AiohttpTransport) -> None:
    step = StepPlan(
        id="big",
        name="big",
        request=RequestPlan(method="GET", url="{{ env.base_url }}/big"),
        assertions=(AssertionPlan(type="body", operator="length", expected=200_000),),
    )
    async with serve(session_app()) as base:
        result = await run_instance(
            make_artifact(step),
            {},
            0,
            "k",
            make_context(transport, env={"base_url": base}, body_limit=1000),
            lambda event: None,
        )
    response = result.steps[0].attempts[0].response
    assert response is not None
    assert response.body_truncated and response.body == "x" * 1000
    assert response.body_size == 200_000
    assert result.status == "passed"  # assertions see the whole body


async def test_instance_specs_name_their_key_and_origin(transport: AiohttpTransport) -> None:
    artifact = make_artifact(*SESSION_STEPS, inputs=(InputPlan(name="user", required=True),))
    rows = [
        InstanceSpec({"user": "ana"}, key="ana-key"),
        InstanceSpec({}, key="broken", where="row 2, line 3 of users.csv"),
    ]
    reporter = CollectingReporter()
    async with serve(session_app()) as base:
        ctx = make_context(transport, env={"base_url": base}, concurrency=1)
        summary = await run_group(artifact, rows, ctx, reporter)
    first, second = reporter.instances()
    assert (first.key, first.status) == ("ana-key", "passed")
    assert (second.key, second.status) == ("broken", "error")
    assert second.error is not None
    assert second.error.message == "missing required input 'user' (row 2, line 3 of users.csv)"
    assert (summary.total, summary.passed, summary.errored) == (2, 1, 1)
    assert isinstance(reporter.events[0], RunStarted) and reporter.events[0].total == 2


class _FinishedOnly(CollectingReporter):
    """A reporter that says it wants finished instances only (like a data run's console)."""

    event_kinds = frozenset({"instance_finished"})


async def test_event_kinds_nobody_wants_are_not_emitted(transport: AiohttpTransport) -> None:
    artifact = make_artifact(*SESSION_STEPS, inputs=(InputPlan(name="user", required=True),))
    everything, finished_only = CollectingReporter(), _FinishedOnly()
    async with serve(session_app()) as base:
        ctx = make_context(transport, env={"base_url": base}, concurrency=4)
        for reporter in (everything, finished_only):
            rows = [{"user": f"user{i}"} for i in range(5)]
            await run_group(artifact, rows, ctx, reporter, key_column="user")
    assert everything.kinds().count("step_started") == 10
    assert everything.kinds().count("instance_started") == 5
    kinds = finished_only.kinds()
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds[1:-1] == ["instance_finished"] * 5
    assert [len(r.steps) for r in finished_only.instances()] == [2] * 5
