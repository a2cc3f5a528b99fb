"""Request building through the engine: bodies, query, cookies and auth helpers."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from engine_helpers import CollectingReporter, make_artifact, make_context, serve
from reqflo.artifact import (
    AssertionPlan,
    AuthPlan,
    BodyPlan,
    MultipartPart,
    Needs,
    OutputPlan,
    RequestPlan,
    StepPlan,
)
from reqflo.http import AiohttpTransport
from reqflo.runner.engine import RunContext, run_group, run_instance
from reqflo.runner.results import InstanceResult

CLIENT_SECRET = "client-secret-canary-123"
ACCESS_TOKEN = "access-token-canary-456"


async def inspect(request: web.Request) -> web.Response:
    """Describe what arrived: method, query, selected headers and the decoded body."""
    ctype = request.content_type
    body: Any
    if ctype == "application/x-www-form-urlencoded":
        body = dict((await request.post()).items())
    elif ctype == "multipart/form-data":
        body = {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            content = (await part.read()).decode()  # type: ignore[union-attr]
            body[part.name] = {
                "filename": part.filename,
                "content": content,  # type: ignore[union-attr]
                "type": part.headers.get("Content-Type"),
            }
    elif ctype == "application/json":
        body = await request.json()
    else:
        body = await request.text()
    return web.json_response(
        {
            "method": request.method,
            "content_type": request.headers.get("Content-Type"),
            "query": [[k, v] for k, v in request.query.items()],
            "body": body,
            "auth": request.headers.get("Authorization"),
            "cookie": request.headers.get("Cookie"),
        }
    )


class OAuthServer:
    def __init__(self) -> None:
        self.token_calls = 0

    async def token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        expected = "Basic " + base64.b64encode(f"app:{CLIENT_SECRET}".encode()).decode()
        form = await request.post()
        if request.headers.get("Authorization") != expected or form.get("grant_type") != (
            "client_credentials"
        ):
            return web.json_response({"error": "invalid_client"}, status=401)
        return web.json_response(
            {"access_token": ACCESS_TOKEN, "expires_in": 3600, "scope": form.get("scope")}
        )

    async def protected(self, request: web.Request) -> web.Response:
        ok = request.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}"
        return web.json_response(
            {"ok": ok, "echo": request.headers.get("Authorization")}, status=200 if ok else 401
        )


def app_with(oauth: OAuthServer | None = None) -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/inspect", inspect)
    if oauth is not None:
        app.router.add_post("/oauth/token", oauth.token)
        app.router.add_get("/protected", oauth.protected)
    return app


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    async with AiohttpTransport(concurrency=4) as transport:
        yield transport


def inspect_step(**request: Any) -> StepPlan:
    return StepPlan(
        id="send",
        name="send",
        request=RequestPlan(
            method=request.pop("method", "POST"), url="{{ env.base_url }}/inspect", **request
        ),
        outputs=(OutputPlan(name="seen", source="body"),),
    )


async def run_one(
    transport: AiohttpTransport,
    step: StepPlan,
    ctx_options: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    needs: Needs | None = None,
) -> InstanceResult:
    async with serve(app_with()) as base:
        ctx = make_context(transport, env={"base_url": base}, **(ctx_options or {}))
        return await run_instance(
            make_artifact(step, needs=needs), values or {}, 0, "k", ctx, lambda event: None
        )


def seen(result: InstanceResult) -> Any:
    assert result.status == "passed", result
    return result.steps[0].outputs["seen"]


async def test_json_body_keeps_types_of_single_references(transport: AiohttpTransport) -> None:
    step = inspect_step(
        body=BodyPlan(
            kind="json",
            value={
                "n": "{{ inputs.n }}",
                "label": "n={{ inputs.n }}",
                "items": ["{{ inputs.list }}"],
            },
        )
    )
    result = await run_one(transport, step, values={"n": 5, "list": [1, 2]})
    assert seen(result)["body"] == {"n": 5, "label": "n=5", "items": [[1, 2]]}
    assert seen(result)["content_type"] == "application/json"


async def test_text_body_and_explicit_content_type(transport: AiohttpTransport) -> None:
    step = inspect_step(
        headers={"Content-Type": "text/csv"},
        body=BodyPlan(kind="text", value="a,b\n{{ inputs.x }},2"),
    )
    result = await run_one(transport, step, values={"x": "1"})
    assert seen(result)["body"] == "a,b\n1,2"
    assert seen(result)["content_type"] == "text/csv"


async def test_form_body(transport: AiohttpTransport) -> None:
    step = inspect_step(
        body=BodyPlan(kind="form", value={"name": "{{ inputs.name }}", "city": "Zürich & co"})
    )
    result = await run_one(transport, step, values={"name": "Ana Lu"})
    assert seen(result)["body"] == {"name": "Ana Lu", "city": "Zürich & co"}


async def test_multipart_with_a_file_relative_to_the_journey(
    transport: AiohttpTransport,
    tmp_path: Path,
) -> None:
    (tmp_path / "fixtures").mkdir()
    (tmp_path / "fixtures" / "hello.txt").write_text("hello file\n")
    step = inspect_step(
        body=BodyPlan(
            kind="multipart",
            parts={
                "title": MultipartPart(value="doc {{ inputs.n }}"),
                "upload": MultipartPart(file="fixtures/hello.txt", content_type="text/plain"),
            },
        )
    )
    result = await run_one(transport, step, {"base_dir": tmp_path}, values={"n": 7})
    body = seen(result)["body"]
    assert body["title"] == {"filename": None, "content": "doc 7", "type": None}
    assert body["upload"] == {
        "filename": "hello.txt",
        "content": "hello file\n",
        "type": "text/plain",
    }


async def test_missing_multipart_file_is_an_invalid_request(
    transport: AiohttpTransport,
    tmp_path: Path,
) -> None:
    step = inspect_step(
        body=BodyPlan(kind="multipart", parts={"upload": MultipartPart(file="nope.bin")})
    )
    result = await run_one(transport, step, {"base_dir": tmp_path})
    error = result.steps[0].error
    assert error is not None and error.code == "invalid-request"
    assert "nope.bin" in error.message


async def test_graphql_body(transport: AiohttpTransport) -> None:
    step = inspect_step(
        body=BodyPlan(
            kind="graphql",
            value={
                "query": "query Q($id: ID!) { item(id: $id) { name } }",
                "variables": {"id": "{{ inputs.id }}"},
                "operation_name": "Q",
            },
        )
    )
    result = await run_one(transport, step, values={"id": 42})
    assert seen(result)["body"] == {
        "query": "query Q($id: ID!) { item(id: $id) { name } }",
        "variables": {"id": 42},
        "operationName": "Q",
    }


async def test_query_lists_cookies_and_headers(transport: AiohttpTransport) -> None:
    step = StepPlan(
        id="send",
        name="send",
        request=RequestPlan(
            method="get",
            url="{{ env.base_url }}/inspect?fixed=1",
            query={"tag": ["a", "b"], "skip": None, "q": "x y"},
            cookies={"pref": "{{ inputs.pref }}"},
        ),
        outputs=(OutputPlan(name="seen", source="body"),),
    )
    result = await run_one(transport, step, values={"pref": "dark"})
    assert seen(result)["query"] == [["fixed", "1"], ["tag", "a"], ["tag", "b"], ["q", "x y"]]
    assert seen(result)["cookie"] == "pref=dark"
    assert seen(result)["method"] == "GET"


async def test_basic_and_bearer_auth(transport: AiohttpTransport) -> None:
    password = "pw:with-colon"
    expected_basic = "Basic " + base64.b64encode(f"ana:{password}".encode()).decode()
    basic = inspect_step(auth=AuthPlan(kind="basic", username="ana", password="{{ secrets.PW }}"))
    basic = basic.model_copy(
        update={
            "assertions": (AssertionPlan(type="json_path", path="$.auth", expected=expected_basic),)
        }
    )
    bearer = inspect_step(auth=AuthPlan(kind="bearer", token="{{ secrets.PW }}"))
    bearer = bearer.model_copy(
        update={
            "assertions": (
                AssertionPlan(type="json_path", path="$.auth", expected="Bearer {{ secrets.PW }}"),
            )
        }
    )
    options = {"secrets": {"PW": password}}
    needs = Needs(secrets=("PW",))
    basic_result = await run_one(transport, basic, options, needs=needs)
    bearer_result = await run_one(transport, bearer, options, needs=needs)
    assert seen(basic_result)["auth"].startswith("Basic ")
    assert basic_result.steps[0].assertions[0].passed
    assert bearer_result.steps[0].assertions[0].passed
    dumped = json.dumps(
        [basic_result.model_dump(mode="json"), bearer_result.model_dump(mode="json")]
    )
    assert password not in dumped
    assert expected_basic.split()[1] not in dumped


def oauth_step() -> StepPlan:
    return StepPlan(
        id="call",
        name="call",
        request=RequestPlan(
            method="GET",
            url="{{ env.base_url }}/protected",
            auth=AuthPlan(
                kind="oauth2_client_credentials",
                token_url="{{ env.base_url }}/oauth/token",
                client_id="app",
                client_secret="{{ secrets.CLIENT_SECRET }}",
                scope="items:read",
            ),
        ),
        assertions=(AssertionPlan(type="json_path", path="$.ok", expected=True),),
    )


async def test_oauth2_client_credentials_token_is_cached_per_run_and_redacted(
    transport: AiohttpTransport,
) -> None:
    oauth = OAuthServer()
    artifact = make_artifact(oauth_step(), needs=Needs(secrets=("CLIENT_SECRET",)))
    reporter = CollectingReporter()
    async with serve(app_with(oauth)) as base:
        ctx: RunContext = make_context(
            transport,
            env={"base_url": base},
            concurrency=5,
            secrets={"CLIENT_SECRET": CLIENT_SECRET},
        )
        summary = await run_group(artifact, [{} for _ in range(12)], ctx, reporter)
    assert (summary.passed, summary.total) == (12, 12)
    assert oauth.token_calls == 1
    dumped = json.dumps([e.model_dump(mode="json") for e in reporter.events])
    assert ACCESS_TOKEN not in dumped and CLIENT_SECRET not in dumped


async def test_oauth2_rejected_client_is_a_step_error(transport: AiohttpTransport) -> None:
    oauth = OAuthServer()
    artifact = make_artifact(oauth_step(), needs=Needs(secrets=("CLIENT_SECRET",)))
    async with serve(app_with(oauth)) as base:
        ctx = make_context(
            transport, env={"base_url": base}, secrets={"CLIENT_SECRET": "wrong-secret"}
        )
        result = await run_instance(artifact, {}, 0, "k", ctx, lambda event: None)
    error = result.steps[0].error
    assert error is not None and error.code == "invalid-response"
    assert "HTTP 401" in error.message


# ------------------------------------------------------- hostile responses (found by fuzzing)

DEEP = b'{"a":' * 900 + b"1" + b"}" * 900


async def hostile(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    if kind == "deep":
        return web.Response(body=DEEP, content_type="application/json")
    return web.Response(
        body=b'{"a": 1}', headers={"Content-Type": "application/json; charset=nope"}
    )


async def run_against_hostile(transport: AiohttpTransport, kind: str) -> InstanceResult:
    app = web.Application()
    app.router.add_get("/{kind}", hostile)
    step = StepPlan(
        id="read", name="read",
        request=RequestPlan(method="GET", url=f"{{{{ env.base_url }}}}/{kind}"),
        outputs=(OutputPlan(name="all", source="body", path="$..*"),),
        assertions=(AssertionPlan(type="json_path", path="$..a", operator="exists"),),
    )  # fmt: skip
    async with serve(app) as base:
        ctx = make_context(transport, env={"base_url": base})
        return await run_instance(make_artifact(step), {}, 0, "k", ctx, lambda event: None)


async def test_a_body_nesting_too_deeply_fails_the_step_with_the_reason(
    transport: AiohttpTransport,
) -> None:
    """900 levels parse, but `$..` and serialisation ran out of recursion: the step was an
    internal error (RecursionError); now the body is refused as JSON, saying why."""
    step = (await run_against_hostile(transport, "deep")).steps[0]
    assert step.error is None or step.error.code != "internal-error", step.error
    messages = " ".join(a.message or "" for a in step.attempts[-1].assertions)
    assert step.status == "failed" and "nests deeper than 128 levels" in messages


async def test_an_unknown_charset_reads_the_body_as_utf8(transport: AiohttpTransport) -> None:
    """`charset=nope` raised LookupError out of the step (an internal error)."""
    result = await run_against_hostile(transport, "charset")
    assert result.status == "passed", result.steps[0].error
    assert result.steps[0].outputs["all"] == 1  # one match: the value itself
