"""The engine end to end against a real API: outputs across steps, flow, setup errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from engine_helpers import CollectingReporter, make_artifact, make_context, serve
from reqflo.artifact import (
    AssertionPlan,
    BodyPlan,
    InputPlan,
    Needs,
    OutputPlan,
    RequestPlan,
    RetryPlan,
    StepPlan,
)
from reqflo.http import AiohttpTransport
from reqflo.runner.engine import run_instance

PASSWORD = "s3cr3t-Pa55word-canary"
TOKEN = "tok-9f8e7d6c5b4a-canary"


class Api:
    """A tiny CRUD API with a login; counts every request it receives."""

    def __init__(self) -> None:
        self.requests = 0
        self.items: dict[int, dict[str, Any]] = {}
        self.app = web.Application(middlewares=[self.count])
        routes = self.app.router
        routes.add_post("/login", self.login)
        routes.add_post("/items", self.create)
        routes.add_get("/items/{id}", self.read)
        routes.add_delete("/items/{id}", self.delete)
        routes.add_get("/echo-secret", self.echo_secret)

    @web.middleware
    async def count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests += 1
        response: web.StreamResponse = await handler(request)
        return response

    async def login(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("password") != PASSWORD:
            return web.json_response({"error": "bad credentials"}, status=401)
        return web.json_response({"token": TOKEN, "user": body["user"]})

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        item = {"id": len(self.items) + 1, **(await request.json())}
        self.items[item["id"]] = item
        return web.json_response(item, status=201, headers={"X-Item-Id": str(item["id"])})

    async def read(self, request: web.Request) -> web.Response:
        item = self.items.get(int(request.match_info["id"]))
        return web.json_response(item) if item else web.json_response({}, status=404)

    async def delete(self, request: web.Request) -> web.Response:
        self.items.pop(int(request.match_info["id"]), None)
        return web.Response(status=204)

    async def echo_secret(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        return web.json_response(
            {"you_sent": auth, "query": dict(request.query)}, headers={"X-Echo": auth}
        )


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    async with AiohttpTransport(concurrency=4) as transport:
        yield transport


def status_is(code: int) -> AssertionPlan:
    return AssertionPlan(type="status_code", expected=code)


LOGIN = StepPlan(
    id="login",
    name="Log in",
    request=RequestPlan(
        method="POST",
        url="{{ env.base_url }}/login",
        body=BodyPlan(
            kind="json",
            value={"user": "{{ inputs.user }}", "password": "{{ secrets.API_PASSWORD }}"},
        ),
    ),
    outputs=(OutputPlan(name="token", source="body", path="$.token", secret=True),),
    assertions=(status_is(200),),
)
AUTH = {"Authorization": "Bearer {{ steps.login.outputs.token }}"}
CRUD_STEPS = (
    LOGIN,
    StepPlan(
        id="create",
        name="Create item",
        request=RequestPlan(
            method="POST",
            url="{{ env.base_url }}/items",
            headers=AUTH,
            body=BodyPlan(
                kind="json", value={"name": "{{ inputs.item }}", "qty": "{{ inputs.qty }}"}
            ),
        ),
        outputs=(OutputPlan(name="id", source="header", key="x-item-id"),),
        assertions=(
            status_is(201),
            AssertionPlan(type="json_path", path="$.qty", operator="equals", expected=3),
        ),
    ),
    StepPlan(
        id="read",
        name="Read item",
        request=RequestPlan(
            method="GET", url="{{ env.base_url }}/items/{{ steps.create.outputs.id }}"
        ),
        assertions=(
            status_is(200),
            AssertionPlan(type="json_path", path="$.name", expected="{{ steps.create.body.name }}"),
            AssertionPlan(type="header", key="content-type", operator="contains", expected="json"),
        ),
    ),
    StepPlan(
        id="delete",
        name="Delete item",
        request=RequestPlan(
            method="DELETE", url="{{ env.base_url }}/items/{{ steps.create.outputs.id }}"
        ),
        assertions=(status_is(204),),
    ),
)
CRUD_INPUTS = (
    InputPlan(name="user", required=True),
    InputPlan(name="item", default="widget"),
    InputPlan(name="qty", type="integer", default=1),
)
CRUD_NEEDS = Needs(
    inputs=("user", "item", "qty"), environment=("base_url",), secrets=("API_PASSWORD",)
)


async def test_login_token_crud_flow_passes(transport: AiohttpTransport) -> None:
    api = Api()
    artifact = make_artifact(*CRUD_STEPS, inputs=CRUD_INPUTS, needs=CRUD_NEEDS)
    reporter = CollectingReporter()
    async with serve(api.app) as base:
        ctx = make_context(transport, secrets={"API_PASSWORD": PASSWORD}, env={"base_url": base})
        result = await run_instance(
            artifact, {"user": "ana", "qty": "3"}, 0, "ana", ctx, reporter.handle
        )
    assert [s.status for s in result.steps] == ["passed"] * 4, result.steps
    assert result.status == "passed"
    assert result.inputs == {"user": "ana", "item": "widget", "qty": 3}
    assert result.steps[1].outputs == {"id": "1"}
    assert api.items == {}
    assert reporter.kinds() == ["instance_started"] + ["step_started", "step_finished"] * 4 + [
        "instance_finished"
    ]


async def test_secrets_and_secret_outputs_never_reach_the_result(
    transport: AiohttpTransport,
) -> None:
    echo = StepPlan(
        id="echo",
        name="Echo",
        request=RequestPlan(
            method="GET",
            url="{{ env.base_url }}/echo-secret",
            headers=AUTH,
            query={"t": "{{ steps.login.outputs.token }}", "p": "{{ secrets.API_PASSWORD }}"},
        ),
        assertions=(
            AssertionPlan(
                type="json_path",
                path="$.you_sent",
                operator="equals",
                expected="Bearer {{ steps.login.outputs.token }}",
            ),
            AssertionPlan(type="body", operator="contains", expected="nope"),
        ),
    )
    artifact = make_artifact(LOGIN, echo, inputs=CRUD_INPUTS, needs=CRUD_NEEDS)
    reporter = CollectingReporter()
    async with serve(Api().app) as base:
        ctx = make_context(transport, secrets={"API_PASSWORD": PASSWORD}, env={"base_url": base})
        result = await run_instance(artifact, {"user": "ana"}, 0, "ana", ctx, reporter.handle)
    assert result.steps[1].assertions[0].passed
    assert result.status == "failed"
    dumped = json.dumps([e.model_dump(mode="json") for e in reporter.events])
    assert TOKEN not in dumped and PASSWORD not in dumped
    assert "REDACTED" in dumped  # the evidence is there, masked
    assert result.steps[0].outputs["token"] != TOKEN


async def test_failed_assertion_reports_expected_actual_and_source_line(
    transport: AiohttpTransport,
) -> None:
    step = StepPlan(
        id="read",
        name="Read",
        request=RequestPlan(method="GET", url="{{ env.base_url }}/items/99"),
        assertions=(status_is(200),),
    )
    artifact = make_artifact(
        step,
        positions={"steps.0.assertions.0": (14, 11)},
        lines={"steps.0.assertions.0": "- {type: status_code, expected: 200}"},
    )
    async with serve(Api().app) as base:
        result = await run_instance(
            artifact,
            {},
            0,
            "k",
            make_context(transport, env={"base_url": base}),
            lambda event: None,
        )
    failed = result.steps[0].assertions[0]
    assert (failed.passed, failed.expected, failed.actual) == (False, 200, 404)
    assert (failed.source_line, failed.source_text) == (14, "- {type: status_code, expected: 200}")
    assert failed.message
    assert result.status == "failed"
    assert result.steps[0].attempts[0].response is not None


async def test_failed_step_stops_the_instance_unless_continue_on_failure(
    transport: AiohttpTransport,
) -> None:
    def probe(step_id: str, keep_going: bool) -> StepPlan:
        return StepPlan(
            id=step_id,
            name=step_id,
            continue_on_failure=keep_going,
            request=RequestPlan(method="GET", url="{{ env.base_url }}/items/1"),
            assertions=(status_is(200),),
        )

    async with serve(Api().app) as base:
        ctx = make_context(transport, env={"base_url": base})
        stopped = await run_instance(
            make_artifact(probe("a", False), probe("b", False)), {}, 0, "k", ctx, lambda event: None
        )
        continued = await run_instance(
            make_artifact(probe("a", True), probe("b", False)), {}, 0, "k", ctx, lambda event: None
        )
    assert [s.id for s in stopped.steps] == ["a"]
    assert [s.status for s in continued.steps] == ["failed", "failed"]
    assert continued.status == "failed"


async def test_when_false_skips_the_step_with_a_reason(transport: AiohttpTransport) -> None:
    api = Api()
    skipped = StepPlan(
        id="maybe",
        name="maybe",
        when="{{ inputs.enabled }}",
        request=RequestPlan(method="GET", url="{{ env.base_url }}/items/1"),
    )
    expression = StepPlan(
        id="expr",
        name="expr",
        when="steps.maybe.status == null",
        request=RequestPlan(method="GET", url="{{ env.base_url }}/items/1"),
    )
    artifact = make_artifact(
        skipped, expression, inputs=(InputPlan(name="enabled", type="boolean", default=False),)
    )
    async with serve(api.app) as base:
        result = await run_instance(
            artifact,
            {},
            0,
            "k",
            make_context(transport, env={"base_url": base}),
            lambda event: None,
        )
    assert result.steps[0].status == "skipped"
    assert result.steps[0].skipped_reason == "when: {{ inputs.enabled }} is false"
    assert result.steps[1].status == "passed"
    assert api.requests == 1
    assert result.status == "passed"


async def test_retry_until_assertions_pass_keeps_every_attempt(
    transport: AiohttpTransport,
) -> None:
    calls = 0

    async def eventually(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.json_response({"state": "done" if calls >= 3 else "pending"})

    app = web.Application()
    app.router.add_get("/job", eventually)
    step = StepPlan(
        id="poll",
        name="poll",
        request=RequestPlan(method="GET", url="{{ env.base_url }}/job"),
        retry=RetryPlan(attempts=5, interval_ms=10, backoff="exponential"),
        outputs=(OutputPlan(name="state", source="body", path="$.state"),),
        assertions=(AssertionPlan(type="json_path", path="$.state", expected="done"),),
    )
    async with serve(app) as base:
        result = await run_instance(
            make_artifact(step),
            {},
            0,
            "k",
            make_context(transport, env={"base_url": base}),
            lambda event: None,
        )
    attempts = result.steps[0].attempts
    assert [a.number for a in attempts] == [1, 2, 3]
    assert [a.passed for a in attempts] == [False, False, True]
    assert result.steps[0].status == "passed"
    assert result.steps[0].outputs == {"state": "done"}
    assert calls == 3


async def test_retry_exhausted_is_a_failure_with_all_attempts(
    transport: AiohttpTransport,
) -> None:
    step = StepPlan(
        id="poll",
        name="poll",
        request=RequestPlan(method="GET", url="{{ env.base_url }}/items/5"),
        retry=RetryPlan(attempts=3, interval_ms=1, until="status_ok"),
        assertions=(status_is(200),),
    )
    async with serve(Api().app) as base:
        result = await run_instance(
            make_artifact(step),
            {},
            0,
            "k",
            make_context(transport, env={"base_url": base}),
            lambda event: None,
        )
    assert len(result.steps[0].attempts) == 3
    assert result.steps[0].status == "failed"


async def test_status_ok_never_reached_fails_even_without_assertions(
    transport: AiohttpTransport,
) -> None:
    step = StepPlan(
        id="poll",
        name="poll",
        request=RequestPlan(method="GET", url="{{ env.base_url }}/items/5"),
        retry=RetryPlan(attempts=2, interval_ms=1, until="status_ok"),
    )
    async with serve(Api().app) as base:
        result = await run_instance(
            make_artifact(step), {}, 0, "k", make_context(transport, env={"base_url": base}),
            lambda event: None,
        )  # fmt: skip
    [check] = result.steps[0].attempts[-1].assertions
    assert result.steps[0].status == "failed" and not check.passed
    assert check.expected == "2xx" and "still" in check.message


@pytest.mark.parametrize(
    ("values", "secrets", "env", "code", "message"),
    [
        (
            {},
            {"API_PASSWORD": PASSWORD},
            {"base_url": "x"},
            "missing-input",
            "missing required input 'user'",
        ),
        (
            {"user": "a", "qty": "lots"},
            {"API_PASSWORD": PASSWORD},
            {"base_url": "x"},
            "invalid-input",
            "input 'qty' (integer): 'lots' is not an integer",
        ),
        (
            {"user": "a"},
            {},
            {"base_url": "x"},
            "missing-secret",
            "secret 'API_PASSWORD' could not be resolved (environment 'staging')",
        ),
        (
            {"user": "a"},
            {"API_PASSWORD": PASSWORD},
            {},
            "missing-environment-value",
            "environment 'staging' does not define 'base_url'",
        ),
    ],
)
async def test_setup_problems_fail_before_any_request(
    transport: AiohttpTransport,
    values: dict[str, Any],
    secrets: dict[str, str],
    env: dict[str, Any],
    code: str,
    message: str,
) -> None:
    api = Api()
    artifact = make_artifact(*CRUD_STEPS, inputs=CRUD_INPUTS, needs=CRUD_NEEDS)
    reporter = CollectingReporter()
    async with serve(api.app) as base:
        env = {k: base for k in env}
        ctx = make_context(transport, secrets=secrets, env=env, environment="staging")
        result = await run_instance(artifact, values, 0, "k", ctx, reporter.handle)
    assert api.requests == 0
    assert result.status == "error"
    assert result.steps == ()
    assert result.error is not None
    assert (result.error.code, result.error.message) == (code, message)
    assert reporter.kinds() == ["instance_started", "instance_finished"]


async def test_unresolved_reference_is_a_step_error(transport: AiohttpTransport) -> None:
    step = StepPlan(
        id="s",
        name="s",
        request=RequestPlan(
            method="GET", url="{{ env.base_url }}/items/{{ steps.nope.outputs.id }}"
        ),
    )
    async with serve(Api().app) as base:
        result = await run_instance(
            make_artifact(step),
            {},
            0,
            "k",
            make_context(transport, env={"base_url": base}),
            lambda event: None,
        )
    error = result.steps[0].error
    assert error is not None and error.code == "unresolved-reference"
    assert "steps.nope.outputs.id" in error.message
    assert result.status == "error"


async def test_assertion_source_lines_follow_the_artifact_object_not_only_its_id(
    transport: AiohttpTransport,
) -> None:
    """Source lines are remembered per artifact; a reformatted journey (same plan, so the
    same id, other lines) reports its own lines, not the remembered ones."""
    step = StepPlan(
        id="read",
        name="Read",
        request=RequestPlan(method="GET", url="{{ env.base_url }}/items/99"),
        assertions=(status_is(200),),
    )
    first = make_artifact(step, positions={"steps.0.assertions.0": (14, 11)}, lines={})
    moved = make_artifact(step, positions={"steps.0.assertions.0": (40, 11)}, lines={})
    assert first.id == moved.id
    lines = []
    async with serve(Api().app) as base:
        ctx = make_context(transport, env={"base_url": base})
        for artifact in (first, moved, first):
            result = await run_instance(artifact, {}, 0, "k", ctx, lambda event: None)
            lines.append(result.steps[0].assertions[0].source_line)
    assert lines == [14, 40, 14]
