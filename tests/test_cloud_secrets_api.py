"""Cloud secrets through the API (uvicorn in a thread, SQLite, in-process executor):
write-only values, versions, compare-and-set, disable, destroy, the audit log, and
resolution in the executor scoped to the run's environment with the `*` fallback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from leakscan import find_leaks
from reqflo.cloud.api_deps import Services
from reqflo.cloud.app import create_app
from reqflo.cloud.inprocess import InProcessExecutor
from reqflo.store import Store, StoreSink, sqlite_url
from test_cloud_api import Api, journey_artifact, served

VALUE = "Sup3r-s3cret/value+with=chars"
USES_SECRET = """
journey:
  name: Uses a secret
  variables:
    - {name: base_url, source: environment}
    - {name: key, source: secret, secret: API_KEY}
  steps:
    - id: call
      name: Send the secret
      request:
        method: POST
        url: "{{ variables.base_url }}/echo"
        headers: {X-Api-Key: "{{ variables.key }}"}
        query: {k: "{{ variables.key }}"}
        json: {key: "{{ variables.key }}"}
      assertions:
        - {type: status_code, expected: 200}
"""


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_url: str) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("cloud-secrets")
    store = Store.open(sqlite_url(folder))
    executor = InProcessExecutor(StoreSink(store), folder)
    services = Services(store=store, executor=executor, data_dir=folder, poll_seconds=0.02)
    tokens = {role: store.create_token(role, role)[1] for role in ("viewer", "editor", "admin")}
    for env in ("demo", "other"):
        store.put_environment(env, {"base_url": demo_url})
    with served(create_app(services)) as url, httpx.Client(base_url=url, timeout=30) as client:
        api = Api(client, tokens, store)
        api.artifacts["uses"] = journey_artifact(folder, "uses", USES_SECRET)
        store.put_artifact(api.artifacts["uses"])
        yield api
    executor.close()
    store.close()


def put(api: Api, env: str, name: str, value: str, **body: Any) -> httpx.Response:
    answer: httpx.Response = api.call(
        "PUT", f"/api/v1/secrets/{env}/{name}", json={"value": value, **body}
    )
    return answer


def run(api: Api, env: str) -> dict[str, Any]:
    body = {"artifact_id": api.artifacts["uses"].id, "environment": env}
    submitted = api.call("POST", "/api/v1/runs", "editor", json=body)
    assert submitted.status_code == 201, submitted.text
    return api.wait(submitted.json()["id"])


def test_values_are_write_only_and_versions_compare_and_set(api: Api) -> None:
    created = put(api, "demo", "TOKEN_A", VALUE)
    assert created.status_code == 201 and created.json()["current_version"] == 1
    assert put(api, "demo", "TOKEN_A", VALUE + "2", expected_version=1).status_code == 200
    conflict = put(api, "demo", "TOKEN_A", VALUE + "3", expected_version=1)
    assert conflict.status_code == 409 and "at version 2" in conflict.json()["detail"]
    versions = api.call("GET", "/api/v1/secrets/demo/TOKEN_A/versions").json()
    assert [(v["version"], v["state"]) for v in versions] == [(2, "current"), (1, "previous")]
    listed = api.call("GET", "/api/v1/secrets", params={"environment": "demo"}).json()
    assert {"environment": "demo", "name": "TOKEN_A", "current_version": 2}.items() <= next(
        s for s in listed if s["name"] == "TOKEN_A"
    ).items()
    for answer in (created, conflict):
        assert not find_leaks(answer.text, [VALUE])


def test_bad_writes_are_422_without_echoing_the_value(api: Api) -> None:
    for body in ({"value": VALUE, "extra": 1}, {"value": ""}, {"value": VALUE * 3000}, {}):
        answer = api.call("PUT", "/api/v1/secrets/demo/BAD", json=body)
        assert answer.status_code == 422 and not find_leaks(answer.text, [VALUE])
    bad_name = api.call("PUT", "/api/v1/secrets/demo/bad%20name", json={"value": VALUE})
    assert bad_name.status_code == 422
    missing = api.call("POST", "/api/v1/secrets/demo/NOPE/disable")
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]


def test_runs_resolve_in_their_environment_and_the_audit_records_the_version(api: Api) -> None:
    put(api, "demo", "API_KEY", VALUE)
    put(api, "demo", "API_KEY", VALUE + "-v2")
    result = run(api, "demo")
    assert result["status"] == "passed", result
    audit = api.call("GET", "/api/v1/secrets/audit", params={"run_id": result["id"]}).json()
    assert [(e["action"], e["environment"], e["name"], e["version"]) for e in audit] == [
        ("resolve", "demo", "API_KEY", 2)
    ]
    assert not find_leaks(str(result), [VALUE, VALUE + "-v2"])


def test_workspace_secrets_are_the_fallback(api: Api) -> None:
    put(api, "*", "API_KEY", "workspace-" + VALUE)
    result = run(api, "other")
    assert result["status"] == "passed", result
    audit = api.call("GET", "/api/v1/secrets/audit", params={"run_id": result["id"]}).json()
    assert [(e["environment"], e["version"]) for e in audit] == [("*", 1)]


def test_a_disabled_or_destroyed_secret_fails_the_instance_before_any_request(api: Api) -> None:
    put(api, "disabled-env", "API_KEY", VALUE)
    api.store.put_environment("disabled-env", {"base_url": "http://127.0.0.1:9"})
    assert api.call("POST", "/api/v1/secrets/disabled-env/API_KEY/disable").json()["status"] == (
        "disabled"
    )
    result = run(api, "disabled-env")
    error = result["instances"][0]["result"]["error"]
    assert result["status"] == "error" and error["code"] == "missing-secret"
    assert "'API_KEY'" in error["message"] and "disabled-env" in error["message"]
    destroyed = api.call("POST", "/api/v1/secrets/disabled-env/API_KEY/destroy").json()
    assert destroyed["status"] == "destroyed"
    versions = api.call("GET", "/api/v1/secrets/disabled-env/API_KEY/versions").json()
    assert {v["state"] for v in versions} == {"destroyed"}


def test_the_audit_log_names_the_token_and_verifies(api: Api, tmp_path: Path) -> None:
    put(api, "demo", "AUDITED", VALUE)
    api.call("POST", "/api/v1/secrets/demo/AUDITED/disable")
    entries = api.call("GET", "/api/v1/secrets/audit", params={"name": "AUDITED"}).json()
    assert [e["action"] for e in entries] == ["disable", "set"]
    assert all("(admin)" in e["actor"] for e in entries)
    assert entries[0]["prev_hash"] == entries[1]["hash"]
    check = api.call("GET", "/api/v1/secrets/audit/verify").json()
    assert check["ok"] and check["entries"] >= 2 and check["problem"] is None
    everything = api.call("GET", "/api/v1/secrets/audit", params={"limit": 1000}).text
    assert not find_leaks(everything, [VALUE])
