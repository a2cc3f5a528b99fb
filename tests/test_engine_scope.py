"""What later steps can reference (`steps.ID...`), `me`, and per-instance redaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import pytest
from aiohttp import web

from engine_helpers import make_artifact, make_context, serve
from reqflo.artifact import AssertionPlan, Needs, OutputPlan, RequestPlan, RetryPlan, StepPlan
from reqflo.http import AiohttpTransport
from reqflo.runner.engine import run_instance
from reqflo.runner.evidence import SharedRedactors, clipped
from reqflo.runner.step import retry_delay_ms, truthy


def ignore(event: object) -> None:
    pass


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    async with AiohttpTransport(concurrency=2) as transport:
        yield transport


def app() -> web.Application:
    async def order(request: web.Request) -> web.Response:
        return web.json_response(
            {"order": {"id": "o-1", "lines": [{"sku": "A"}, {"sku": "B"}]}},
            status=201,
            headers={"X-Request-Id": "rid-7"},
        )

    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=request.query_string)

    application = web.Application()
    application.router.add_post("/orders", order)
    application.router.add_get("/echo", echo)
    return application


async def test_later_steps_see_status_headers_body_url_and_duration(
    transport: AiohttpTransport,
) -> None:
    first = StepPlan(
        id="create",
        name="create",
        request=RequestPlan(method="POST", url="{{ env.base_url }}/orders"),
        outputs=(OutputPlan(name="id", source="body", path="$.order.id"),),
    )
    query = {
        "status": "{{ steps.create.status }}",
        "rid": "{{ steps.create.headers.x-request-id }}",
        "rid2": "{{ steps.create.headers['X-REQUEST-ID'] }}",
        "sku": "{{ steps.create.body.order.lines[1].sku }}",
        "url": "{{ steps.create.url }}",
        "id": "{{ steps.create.outputs.id }}",
        "who": "{{ me.user }}",
    }
    second = StepPlan(
        id="echo",
        name="echo",
        request=RequestPlan(method="GET", url="{{ env.base_url }}/echo", query=query),
        when="steps.create.duration_ms >= 0 and steps.create.status == 201",
        outputs=(OutputPlan(name="qs", source="body"),),
    )
    async with serve(app()) as base:
        ctx = make_context(transport, env={"base_url": base}, me={"user": "ana"})
        result = await run_instance(make_artifact(first, second), {}, 0, "k", ctx, ignore)
    assert result.status == "passed", result
    seen = {k: v[0] for k, v in parse_qs(result.steps[1].outputs["qs"]).items()}
    assert seen == {
        "status": "201",
        "rid": "rid-7",
        "rid2": "rid-7",
        "sku": "B",
        "url": f"{base}/orders",
        "id": "o-1",
        "who": "ana",
    }


async def test_unresolved_expected_value_fails_that_assertion_only(
    transport: AiohttpTransport,
) -> None:
    step = StepPlan(
        id="create",
        name="create",
        request=RequestPlan(method="POST", url="{{ env.base_url }}/orders"),
        assertions=(
            AssertionPlan(type="status_code", expected="{{ steps.ghost.outputs.x }}"),
            AssertionPlan(type="status_code", expected=201),
        ),
    )
    async with serve(app()) as base:
        result = await run_instance(
            make_artifact(step), {}, 0, "k", make_context(transport, env={"base_url": base}), ignore
        )
    first, second = result.steps[0].assertions
    assert not first.passed and "steps.ghost.outputs.x" in first.message
    assert second.passed
    assert result.status == "failed"


def test_instance_redactors_share_run_secrets_but_not_derived_ones() -> None:
    shared = SharedRedactors()
    one = shared.for_secrets(["run-secret-1"])
    two = shared.for_secrets(["run-secret-1"])
    one.add("token-of-instance-one")
    text = "run-secret-1 token-of-instance-one"
    assert one.redact(text) == "[REDACTED] [REDACTED]"
    assert two.redact(text) == "[REDACTED] token-of-instance-one"
    assert "token" not in repr(one) and "secret" not in repr(one).replace("secrets", "")


def test_clipped_never_shows_part_of_a_secret_at_the_cut() -> None:
    redactor = SharedRedactors().for_secrets(["S3CRET-VALUE-XYZ"])
    body = "a" * 995 + "S3CRET-VALUE-XYZ" + "b" * 20_000
    text, truncated = clipped(body, redactor, limit=1000)
    assert truncated and len(text) <= 1000
    assert "S3C" not in text


async def test_missing_me_value_fails_before_any_request(transport: AiohttpTransport) -> None:
    step = StepPlan(
        id="s", name="s", request=RequestPlan(method="GET", url="http://127.0.0.1:9/{{ me.email }}")
    )
    artifact = make_artifact(step, needs=Needs(me=("email",)))
    result = await run_instance(artifact, {}, 0, "k", make_context(transport), ignore)
    assert result.steps == ()
    assert result.error is not None
    assert (result.error.code, result.error.message) == (
        "missing-input",
        "'me.email' is not known for the user running the journey",
    )


async def test_bad_function_arguments_are_an_invalid_request(
    transport: AiohttpTransport,
) -> None:
    step = StepPlan(
        id="s",
        name="s",
        request=RequestPlan(method="GET", url="http://127.0.0.1:9/{{ random_int('a', 2) }}"),
        retry=RetryPlan(attempts=3, interval_ms=1),
    )
    result = await run_instance(make_artifact(step), {}, 0, "k", make_context(transport), ignore)
    error = result.steps[0].error
    assert error is not None and error.code == "invalid-request"
    assert len(result.steps[0].attempts) == 1  # retrying cannot help


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [
        ("constant", [100, 100, 100, 100]),
        ("linear", [100, 200, 300, 350]),
        ("exponential", [100, 200, 350, 350]),
    ],
)
def test_retry_backoff_is_capped_at_max_interval(backoff: str, delays: list[float]) -> None:
    retry = RetryPlan(attempts=5, interval_ms=100, backoff=backoff, max_interval_ms=350)  # type: ignore[arg-type]
    assert [retry_delay_ms(retry, n) for n in range(1, 5)] == delays


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("false", False),
        (" No ", False),
        ("0", False),
        ("", False),
        ("yes", True),
        ("anything", True),
        (0, False),
        (1, True),
        (None, False),
        ([], False),
        ([0], True),
    ],
)
def test_when_truthiness(value: object, expected: bool) -> None:
    assert truthy(value) is expected
