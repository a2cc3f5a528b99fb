"""The Cloud Runner API served by uvicorn in a thread (SQLite store, in-process executor)
against the demo API: every route × role, precise 4xx answers, runs end to end, SSE."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from reqflo.artifact import Artifact, dumps
from reqflo.cloud.api_deps import Services
from reqflo.cloud.app import create_app
from reqflo.cloud.inprocess import InProcessExecutor
from reqflo.store import Store, StoreSink, durability, sqlite_url
from test_cloud_support import compiled, free_port

ECHO = """
journey:
  name: Echo
  inputs:
    - {name: word, default: hi}
  variables:
    - {name: base_url, source: environment}
  cases:
    loud: {word: HELLO}
  steps:
    - id: echo
      name: Echo a word
      request:
        method: GET
        url: "{{ variables.base_url }}/echo"
        query: {word: "{{ inputs.word }}"}
      assertions:
        - {type: status_code, expected: 200}
"""
SLOW = """
journey:
  name: Slow
  variables:
    - {name: base_url, source: environment}
  steps:
    - id: wait
      name: Wait a long time
      request:
        method: GET
        url: "{{ variables.base_url }}/slow?ms=3000"
        timeout: 30s
"""


class Api:
    def __init__(self, client: httpx.Client, tokens: dict[str, str], store: Store) -> None:
        self.client, self.tokens, self.store = client, tokens, store
        self.app: Any = None
        self.artifacts: dict[str, Artifact] = {}

    def call(self, method: str, path: str, role: str | None = "admin", **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        headers.update(kw.pop("headers", {}))
        return self.client.request(method, path, headers=headers, **kw)

    def wait(self, run_id: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run: dict[str, Any] = self.call("GET", f"/api/v1/runs/{run_id}").json()
            if run["status"] not in {"queued", "running"}:
                return run
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} did not finish")


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The app on 127.0.0.1:<free port> in a thread, stopped and joined on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive()


def journey_artifact(folder: Path, name: str, text: str) -> Artifact:
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    artifact = compiled(path)
    assert isinstance(artifact, Artifact)
    return artifact


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_url: str) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("cloud-api")
    store = Store.open(sqlite_url(folder))
    executor = InProcessExecutor(StoreSink(store), folder)
    services = Services(store=store, executor=executor, data_dir=folder, poll_seconds=0.02)
    tokens = {role: store.create_token(role, role)[1] for role in ("viewer", "editor", "admin")}
    revoked, tokens["revoked"] = store.create_token("old", "admin")
    store.revoke_token(revoked.id)
    tokens["bogus"] = "rqf_not-a-token"
    store.put_environment("demo", {"base_url": demo_url})
    app = create_app(services)
    with served(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        api = Api(client, tokens, store)
        api.app = app
        for name, text in (("echo", ECHO), ("slow", SLOW)):
            api.artifacts[name] = journey_artifact(folder, name, text)
            store.put_artifact(api.artifacts[name])
        yield api
    executor.close()
    store.close()


def submit(api: Api, role: str = "editor", **body: Any) -> Any:
    body.setdefault("artifact_id", api.artifacts["echo"].id)
    body.setdefault("environment", "demo")
    return api.call("POST", "/api/v1/runs", role, json=body)


# ---------------------------------------------------------------- access control

RUN = "0" * 32
ROUTES = [  # (method, path, least role)
    ("POST", "/api/v1/artifacts", "editor"),
    ("GET", "/api/v1/artifacts/abc123", "viewer"),
    ("POST", "/api/v1/runs", "editor"),
    ("GET", "/api/v1/runs", "viewer"),
    ("GET", f"/api/v1/runs/{RUN}", "viewer"),
    ("POST", f"/api/v1/runs/{RUN}/cancel", "editor"),
    ("POST", f"/api/v1/runs/{RUN}/rerun", "editor"),
    ("GET", f"/api/v1/runs/{RUN}/events", "viewer"),
    ("GET", f"/api/v1/runs/{RUN}/diff", "viewer"),
    ("PUT", "/api/v1/environments/x", "editor"),
    ("GET", "/api/v1/environments/x", "viewer"),
    ("GET", "/api/v1/environments", "viewer"),
    ("POST", "/api/v1/tokens", "admin"),
    ("GET", "/api/v1/tokens", "admin"),
    ("DELETE", "/api/v1/tokens/x", "admin"),
    ("GET", "/metrics", "viewer"),
    ("GET", "/api/v1/workers", "viewer"),
    *[
        (m, f"/api/v1/schedules{p}", r)
        for m, p, r in (  # schedules (issue 7)
            ("POST", "", "editor"),
            ("GET", "", "viewer"),
            ("GET", "/s", "viewer"),
            ("PATCH", "/s", "editor"),
            ("POST", "/s/pause", "editor"),
            ("POST", "/s/resume", "editor"),
            ("DELETE", "/s", "editor"),
        )
    ],
    ("GET", "/api/v1/settings", "viewer"),
    ("PUT", "/api/v1/settings", "admin"),
    *[
        (m, f"/api/v1/secrets{p}", "admin")
        for m, p in (  # cloud-managed secrets: admin only
            ("GET", ""),
            ("GET", "/audit"),
            ("GET", "/audit/verify"),
            ("PUT", "/e/S"),
            ("GET", "/e/S/versions"),
            ("POST", "/e/S/disable"),
            ("POST", "/e/S/destroy"),
        )
    ],
]
RANK = ["viewer", "editor", "admin"]
JSON = {"Content-Type": "application/json"}


def test_every_route_is_in_the_matrix(api: Api) -> None:
    paths = api.app.openapi()["paths"]
    served = {(method.upper(), path) for path, item in paths.items() for method in item}
    listed = {(m, p.replace(RUN, "{run_id}")) for m, p, _ in ROUTES}
    listed = {(m, p.replace("abc123", "{artifact_id}")) for m, p in listed}
    listed = {(m, p.replace("/environments/x", "/environments/{name}")) for m, p in listed}
    listed = {(m, p.replace("/tokens/x", "/tokens/{token_id}")) for m, p in listed}
    listed = {(m, p.replace("/schedules/s", "/schedules/{schedule_id}")) for m, p in listed}
    listed = {(m, p.replace("/secrets/e/S", "/secrets/{environment}/{name}")) for m, p in listed}
    assert served - {("GET", "/api/v1/health")} == listed


@pytest.mark.parametrize(("method", "path", "least"), ROUTES)
def test_each_route_refuses_missing_bad_and_weak_tokens(
    api: Api, method: str, path: str, least: str
) -> None:
    for role in (None, "bogus", "revoked"):
        answer = api.call(method, path, role)
        assert answer.status_code == 401, (role, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"
    for role in RANK[: RANK.index(least)]:
        answer = api.call(method, path, role)
        assert answer.status_code == 403, (role, answer.text)
        assert f"needs the {least} role" in answer.json()["detail"]
    for role in RANK[RANK.index(least) :]:
        assert api.call(method, path, role).status_code not in {401, 403}, role


def test_health_needs_no_token(api: Api) -> None:
    answer = api.call("GET", "/api/v1/health", None)
    assert answer.status_code == 200 and answer.json()["database"] == "sqlite"


def test_openapi_lists_the_routes(api: Api) -> None:
    document = api.call("GET", "/openapi.json", None).json()
    assert "/api/v1/runs/{run_id}/rerun" in document["paths"]


# Generated clients name their methods after these: renaming a route function renames
# its operationId (a search-and-replace once made `list_schedules` `listschedule_store`).
OPERATIONS = [
    "audit",
    "cancel_run",
    "create_schedule",
    "create_token",
    "delete_schedule",
    "destroy_secret",
    "diff_run",
    "disable_secret",
    "get_artifact",
    "get_environment",
    "get_run",
    "get_schedule",
    "get_settings",
    "health",
    "list_environments",
    "list_runs",
    "list_schedules",
    "list_secrets",
    "list_tokens",
    "metrics",
    "pause_schedule",
    "put_environment",
    "put_secret",
    "put_settings",
    "rerun",
    "resume_schedule",
    "revoke_token",
    "run_events",
    "secret_versions",
    "submit_run",
    "update_schedule",
    "upload_artifact",
    "verify_audit",
    "workers",
]


def test_operation_ids_stay_the_route_functions_names(api: Api) -> None:
    document = api.call("GET", "/openapi.json", None).json()
    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    assert len(ids) == len(OPERATIONS)
    for name in OPERATIONS:
        assert sum(i.startswith(f"{name}_api_v1_") or i == f"{name}_metrics_get"
                   for i in ids) == 1, name  # fmt: skip


# ---------------------------------------------------------------- precise 4xx


def test_tampered_and_malformed_artifacts_are_422(api: Api) -> None:
    good = json.loads(dumps(api.artifacts["echo"]))
    good["plan"]["steps"][0]["name"] = "changed"
    tampered = api.call("POST", "/api/v1/artifacts", content=json.dumps(good))
    assert tampered.status_code == 422 and "failed verification" in tampered.json()["detail"]
    for body, message in (
        (b"{not json", "not valid JSON"),
        (b"[]", "not a Reqflo artifact"),
        (b"\xff\xfe", "not UTF-8"),
    ):
        answer = api.call("POST", "/api/v1/artifacts", content=body)
        assert answer.status_code == 422 and message in answer.json()["detail"], answer.text


def test_artifact_upload_is_idempotent(api: Api) -> None:
    text = dumps(api.artifacts["echo"])
    assert api.call("POST", "/api/v1/artifacts", content=text).status_code == 200
    found = api.call("GET", f"/api/v1/artifacts/{api.artifacts['echo'].id}").json()
    assert found["journey"] == "Echo" and found["artifact"]["id"] == api.artifacts["echo"].id


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"artifact_id": "abcdef123"}, 404, "artifact abcdef123 is not uploaded"),
        ({"environment": "nope"}, 404, "environment 'nope' does not exist"),
        ({"case": "lod"}, 422, "case 'lod' is not defined in journey 'Echo'; did you mean 'loud'"),
        ({"inputs": {"wrd": "x"}}, 422, "inputs.wrd: journey 'Echo' declares no input 'wrd'"),
        ({"rows": []}, 422, "rows: give at least one row"),
        ({"data_key": "word"}, 422, "data_key names a column of rows"),
        ({"concurrency": 0}, 422, "body.concurrency: Input should be greater than or equal to 1"),
        ({"colour": "red"}, 422, "body.colour: Extra inputs are not permitted"),
        ({"inputs": [1]}, 422, "body.inputs: Input should be a valid dictionary"),
    ],
)
def test_bad_run_requests_get_precise_answers(
    api: Api, body: dict[str, Any], status: int, message: str
) -> None:
    answer = submit(api, **body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "message"),
    [
        ("POST", "/api/v1/runs", {"content": b"{oops", "headers": JSON}, 422, "not valid JSON"),
        ("POST", "/api/v1/runs", {"json": [1, 2]}, 422, "body: Input should be a valid dict"),
        ("GET", "/api/v1/runs?status=done", {}, 422, "query.status: Input should be"),
        ("GET", "/api/v1/runs?limit=0", {}, 422, "query.limit"),
        ("GET", f"/api/v1/runs?offset={10**26}", {}, 422, "query.offset"),  # was a 500
        ("GET", f"/api/v1/runs/{RUN}/events?after={10**26}", {}, 422, "query.after"),
        ("GET", f"/api/v1/runs/{RUN}", {}, 404, f"no run with id {RUN}"),
        ("POST", f"/api/v1/runs/{RUN}/rerun", {}, 404, f"no run with id {RUN}"),
        ("GET", f"/api/v1/runs/{RUN}/events", {}, 404, f"no run with id {RUN}"),
        ("PUT", "/api/v1/environments/a b", {"json": {"values": {}}}, 422, "path.name"),
        ("PUT", "/api/v1/environments/ok", {"json": {"vals": {}}}, 422, "body.values: Field"),
        ("GET", "/api/v1/environments/none", {}, 404, "environment 'none' does not exist"),
        ("POST", "/api/v1/tokens", {"json": {"name": "x", "role": "root"}}, 422, "body.role"),
        ("DELETE", "/api/v1/tokens/nope", {}, 404, "no API token with id nope"),
    ],
)
def test_bad_input_is_4xx_never_500(
    api: Api, method: str, path: str, kwargs: dict[str, Any], status: int, message: str
) -> None:
    answer = api.call(method, path, **kwargs)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["detail"]


# ---------------------------------------------------------------- runs


def test_a_run_passes_with_full_results_and_a_duplicate_key_returns_it(api: Api) -> None:
    first = submit(api, case="loud", idempotency_key="same-key")
    again = submit(api, case="loud", idempotency_key="same-key")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    run = api.wait(first.json()["id"])
    assert (run["status"], run["passed"], run["total"]) == ("passed", 1, 1)
    [instance] = run["instances"]
    assert instance["key"] == "loud" and instance["result"]["inputs"] == {"word": "HELLO"}
    step = instance["result"]["steps"][0]
    assert step["status"] == "passed" and "word=HELLO" in step["attempts"][0]["request"]["url"]
    with api.store.engine.connect() as connection:
        query = "SELECT count(*) FROM runs WHERE idempotency_key = 'same-key'"
        assert connection.exec_driver_sql(query).scalar() == 1


def test_rows_become_instances_keyed_by_the_data_key(api: Api) -> None:
    rows = [{"word": "a"}, {"word": "b"}, {"word": ""}]
    answer = submit(api, rows=rows, data_key="word")
    run = api.wait(answer.json()["id"])
    assert [i["key"] for i in run["instances"]] == ["a", "b", "row-3"]
    assert run["rows"] == 3 and run["passed"] == 3


def test_events_stream_in_order_and_end_with_the_status(api: Api) -> None:
    run_id = submit(api).json()["id"]
    headers = {"Authorization": f"Bearer {api.tokens['viewer']}"}
    with api.client.stream("GET", f"/api/v1/runs/{run_id}/events", headers=headers) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        kinds = [line[7:] for line in stream.iter_lines() if line.startswith("event: ")]
    assert kinds[0] == "run_started" and kinds[-2:] == ["run_finished", "end"]
    assert kinds.count("step_finished") == 1


def test_cancel_then_rerun(api: Api) -> None:
    run_id = submit(api, artifact_id=api.artifacts["slow"].id).json()["id"]
    time.sleep(0.3)
    cancelled = api.call("POST", f"/api/v1/runs/{run_id}/cancel", "editor")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = api.call("POST", f"/api/v1/runs/{run_id}/cancel", "editor")
    assert again.status_code == 409 and "already finished (cancelled)" in again.json()["detail"]
    echo_run = submit(api, inputs={"word": "again"}).json()["id"]
    api.wait(echo_run)
    rerun = api.call("POST", f"/api/v1/runs/{echo_run}/rerun", "editor")
    assert rerun.status_code == 201
    body = rerun.json()
    assert body["rerun_of"] == echo_run and body["trigger"] == "rerun"
    assert api.wait(body["id"])["instances"][0]["result"]["inputs"] == {"word": "again"}


def test_list_filters_and_paginates(api: Api) -> None:
    for _ in range(2):
        api.wait(submit(api).json()["id"])
    page = api.call("GET", "/api/v1/runs?journey=Echo&status=passed&limit=1", "viewer").json()
    assert page["total"] >= 2 and len(page["runs"]) == 1
    assert all(r["status"] == "passed" for r in page["runs"])
    empty = api.call("GET", "/api/v1/runs?environment=elsewhere", "viewer").json()
    assert empty == {"runs": [], "total": 0, "limit": 50, "offset": 0}


def test_environments_and_tokens(api: Api) -> None:
    created = api.call("PUT", "/api/v1/environments/extra", json={"values": {"a": 1}})
    replaced = api.call("PUT", "/api/v1/environments/extra", json={"values": {"a": 2}})
    assert (created.status_code, replaced.status_code) == (201, 200)
    names = [e["name"] for e in api.call("GET", "/api/v1/environments", "viewer").json()]
    assert {"demo", "extra"} <= set(names)
    made = api.call("POST", "/api/v1/tokens", json={"name": "ci", "role": "viewer"}).json()
    assert api.call("GET", "/api/v1/runs", None, headers={
        "Authorization": f"Bearer {made['token']}"}).status_code == 200  # fmt: skip
    assert "token" not in api.call("GET", "/api/v1/tokens").json()[0]
    api.call("DELETE", f"/api/v1/tokens/{made['id']}")
    assert api.call("GET", "/api/v1/runs", None, headers={
        "Authorization": f"Bearer {made['token']}"}).status_code == 401  # fmt: skip


def test_metrics_count_requests_and_runs(api: Api) -> None:
    text = api.call("GET", "/metrics", "viewer").text
    assert 'reqflo_http_requests_total{method="GET",status="2xx"}' in text
    assert 'reqflo_runs{status="passed"}' in text


ME = """
journey:
  name: Who runs it
  variables:
    - {name: base_url, source: environment}
    - {name: caller, source: me, key: name}
  steps:
    - id: echo
      request:
        url: "{{ variables.base_url }}/echo"
        headers: {X-Caller: "{{ variables.caller }}", X-Role: "{{ me.role }}"}
      assertions:
        - {type: status_code, expected: 200}
"""


def test_me_is_the_identity_of_the_token_that_started_the_run(api: Api, tmp_path: Path) -> None:
    artifact = journey_artifact(tmp_path, "me", ME)
    api.store.put_artifact(artifact)
    run = api.wait(submit(api, artifact_id=artifact.id).json()["id"])
    assert run["status"] == "passed"
    request = run["instances"][0]["result"]["steps"][0]["attempts"][0]["request"]
    headers = dict(request["headers"])
    assert (headers["X-Caller"], headers["X-Role"]) == ("editor", "editor")


def test_an_api_write_is_answered_once_durable_a_read_flushes_nothing(api: Api) -> None:
    barrier = durability.barrier_for(str(api.store.engine.url))
    before = barrier.flushes
    assert api.call("GET", "/api/v1/environments").status_code == 200
    assert barrier.flushes == before
    answer = api.call("PUT", "/api/v1/environments/durable", json={"values": {"a": 1}})
    assert answer.status_code in (200, 201), answer.text
    assert barrier.flushes > before
    after_write = barrier.flushes
    refused = [api.call("PUT", "/api/v1/environments/durable", None, json={"values": {}}),
               api.call("POST", "/api/v1/nowhere"),
               api.call("PUT", "/api/v1/environments/durable", json={"vals": {}})]  # fmt: skip
    assert [r.status_code for r in refused] == [401, 404, 422]
    assert barrier.flushes == after_write  # a refused write changed nothing: no sync


def test_a_last_event_id_beyond_any_event_is_a_422(api: Api) -> None:
    run_id = submit(api, case="loud").json()["id"]
    headers = {"Last-Event-ID": str(10**26)}
    answer = api.call("GET", f"/api/v1/runs/{run_id}/events", headers=headers)
    assert answer.status_code == 422, answer.text
    assert "Last-Event-ID" in answer.json()["detail"]
