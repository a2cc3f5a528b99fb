"""Runner settings enforced on cloud runs: the step timeout cap and transport retries
(in-process executor, API served by uvicorn, demo API as target), the settings'
concurrency for API runs without one, and the limits carried into durable jobs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reqflo.cloud.api_deps import Services
from reqflo.cloud.app import create_app
from reqflo.cloud.durable.jobs import InstanceJob, JobRow, RunSpec, StepLimits, jobs_of
from reqflo.cloud.executor import QueuedInstance, QueuedRun
from reqflo.cloud.inprocess import InProcessExecutor
from reqflo.store import Store, StoreSink, sqlite_url
from test_cloud_api import ECHO, SLOW, Api, journey_artifact, served
from test_cloud_support import free_port

CLOSED = """
journey:
  name: Closed
  variables:
    - {name: base_url, source: environment}
  steps:
    - id: knock
      name: Knock on a closed port
      request:
        method: GET
        url: "{{ variables.base_url }}/nobody"
"""


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_url: str) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("cloud-limits")
    store = Store.open(sqlite_url(folder))
    executor = InProcessExecutor(StoreSink(store), folder)
    services = Services(store=store, executor=executor, data_dir=folder, poll_seconds=0.02)
    tokens = {role: store.create_token(role, role)[1] for role in ("editor", "admin")}
    store.put_environment("demo", {"base_url": demo_url})
    store.put_environment("closed", {"base_url": f"http://127.0.0.1:{free_port()}"})
    with served(create_app(services)) as url, httpx.Client(base_url=url, timeout=30) as client:
        api = Api(client, tokens, store)
        for name, text in (("echo", ECHO), ("slow", SLOW), ("closed", CLOSED)):
            api.artifacts[name] = journey_artifact(folder, name, text)
            store.put_artifact(api.artifacts[name])
        yield api
    executor.close()
    store.close()


def put_settings(api: Api, **values: Any) -> None:
    answer = api.call("PUT", "/api/v1/settings", "admin", json=values)
    assert answer.status_code == 200, answer.text


def run(api: Api, artifact: str, environment: str, **body: Any) -> dict[str, Any]:
    body = {"artifact_id": api.artifacts[artifact].id, "environment": environment, **body}
    answer = api.call("POST", "/api/v1/runs", "editor", json=body)
    assert answer.status_code == 201, answer.text
    return api.wait(answer.json()["id"])


def first_step(run_detail: dict[str, Any]) -> dict[str, Any]:
    step: dict[str, Any] = run_detail["instances"][0]["result"]["steps"][0]
    return step


def test_step_timeout_setting_caps_a_slow_step(api: Api) -> None:
    put_settings(api, step_timeout_seconds=0.3)
    detail = run(api, "slow", "demo")
    step = first_step(detail)
    assert detail["status"] == "error"
    assert step["status"] == "error" and step["error"]["code"] == "timeout"
    assert len(step["attempts"]) == 1


def test_transport_retries_setting_adds_attempts(api: Api) -> None:
    put_settings(api, transport_retries=2, transport_retry_backoff_seconds=0.01)
    step = first_step(run(api, "closed", "closed"))
    assert [a["number"] for a in step["attempts"]] == [1, 2, 3]
    assert {a["error"]["code"] for a in step["attempts"]} == {"connection-error"}


def test_rerun_uses_the_settings_when_it_is_queued(api: Api) -> None:
    put_settings(api)
    first = run(api, "closed", "closed")
    assert len(first_step(first)["attempts"]) == 1
    put_settings(api, transport_retries=1, transport_retry_backoff_seconds=0)
    answer = api.call("POST", f"/api/v1/runs/{first['id']}/rerun", "editor")
    assert answer.status_code == 201
    assert len(first_step(api.wait(answer.json()["id"]))["attempts"]) == 2


def test_api_runs_without_concurrency_take_the_settings(api: Api) -> None:
    put_settings(
        api, default_concurrency=4, journey_concurrency={"Echo": 7}, step_timeout_seconds=0.2
    )
    assert run(api, "echo", "demo")["concurrency"] == 7
    assert run(api, "slow", "demo", concurrency=2)["concurrency"] == 2
    put_settings(api, default_concurrency=4, step_timeout_seconds=0.2)
    assert run(api, "slow", "demo")["concurrency"] == 4
    assert run(api, "echo", "demo", concurrency=3)["concurrency"] == 3


def test_durable_jobs_carry_the_step_limits(api: Api) -> None:
    queued = QueuedRun(
        run_id="r1",
        artifact=api.artifacts["echo"],
        instances=(QueuedInstance(0, "a", {}), QueuedInstance(1, "b", {})),
        environment=None,
        env={},
        step_timeout_seconds=2.5,
        transport_retries=3,
        transport_retry_backoff_seconds=0.5,
    )
    spec = RunSpec.model_validate_json(RunSpec.of(queued).model_dump_json())
    expected = StepLimits(
        step_timeout_seconds=2.5, transport_retries=3, transport_retry_backoff_seconds=0.5
    )
    assert [job.limits for job in jobs_of(spec)] == [expected, expected]


def test_durable_jobs_stored_before_the_limits_have_none(api: Api) -> None:
    job = jobs_of(RunSpec.of(QueuedRun("r2", api.artifacts["echo"], (), None, {})))
    assert job == []
    row = JobRow(index=0, key="a", values={})
    data = InstanceJob(run_id="r3", artifact=api.artifacts["echo"], env={}, row=row).model_dump(
        mode="json"
    )
    data.pop("limits")
    assert InstanceJob.model_validate(data).limits == StepLimits()
