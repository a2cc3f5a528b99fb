"""Runner settings on the durable path, end to end: the API (uvicorn, in this process)
submits through a submit-only DurableExecutor, a real `reqflo worker` subprocess is the
only process executing runs, on a fresh PostgreSQL database. The step timeout cap
reaches the worker inside the durable job (a 3 s step cut off at 0.5 s), and the
scheduler loop ends a run running longer than `max_run_seconds` as `cancelled` and
stops its workflows, and the worker finishing the step later does not revive it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from reqflo.cloud.api_deps import Services
from reqflo.cloud.app import create_app
from reqflo.cloud.durable.engine import EngineConfig
from reqflo.cloud.durable.executor import DurableExecutor
from reqflo.cloud.scheduler import Scheduler
from reqflo.store import Store, StoreSink
from test_cloud_api import SLOW, Api, journey_artifact, served
from test_cloud_support import fresh_postgres, start_worker, stop_worker

STUCK = SLOW.replace("name: Slow", "name: Stuck").replace("ms=3000", "ms=8000")


@dataclass
class Durable:
    api: Api
    executor: DurableExecutor  # submit-only: it never executes a run
    log: Path  # the worker's output

    def put_settings(self, **values: Any) -> None:
        answer = self.api.call("PUT", "/api/v1/settings", "admin", json=values)
        assert answer.status_code == 200, answer.text

    def submit(self, journey: str) -> str:
        body = {"artifact_id": self.api.artifacts[journey].id, "environment": "demo"}
        answer = self.api.call("POST", "/api/v1/runs", "editor", json=body)
        assert answer.status_code == 201, answer.text
        run_id: str = answer.json()["id"]
        return run_id


@pytest.fixture(scope="module")
def durable(tmp_path_factory: pytest.TempPathFactory, demo_url: str) -> Iterator[Durable]:
    tmp_path = tmp_path_factory.mktemp("durable-limits")
    data_dir = tmp_path / "server"
    data_dir.mkdir(mode=0o700)
    with fresh_postgres() as url:
        store = Store.open(url)
        engine = EngineConfig(database_url=url, data_dir=data_dir, executor_id="api-only")
        submitter = DurableExecutor(engine, StoreSink(store), worker=False)
        worker = start_worker(data_dir, url, {"REQFLO_HOME": str(tmp_path / "home")})
        _wait_ready(store, worker, tmp_path / "worker.log")
        tokens = {role: store.create_token(role, role)[1] for role in ("editor", "admin")}
        store.put_environment("demo", {"base_url": demo_url})
        app = create_app(Services(store=store, executor=submitter, data_dir=data_dir))
        try:
            with served(app) as api_url, httpx.Client(base_url=api_url, timeout=30) as client:
                api = Api(client, tokens, store)
                for name, text in (("slow", SLOW), ("stuck", STUCK)):
                    api.artifacts[name] = journey_artifact(tmp_path, name, text)
                    store.put_artifact(api.artifacts[name])
                yield Durable(api, submitter, tmp_path / "worker.log")
        finally:
            stop_worker(worker)
            submitter.close()
            store.close()


def test_step_timeout_cap_applies_in_the_worker_process(durable: Durable) -> None:
    durable.put_settings(step_timeout_seconds=0.5)
    run = durable.api.wait(durable.submit("slow"), timeout=60)
    assert run["status"] == "error", durable.log.read_text()
    step = run["instances"][0]["result"]["steps"][0]
    assert step["status"] == "error" and step["error"]["code"] == "timeout"
    assert len(step["attempts"]) == 1 and step["duration_ms"] < 2500  # not the 30 s of the step


def test_max_run_duration_cancels_a_run_executing_in_the_worker(durable: Durable) -> None:
    durable.put_settings(max_run_seconds=1)
    store = durable.api.store
    scheduler = Scheduler(store, durable.executor, "http://x", interval=0.3,
                          grace=timedelta(minutes=1))  # fmt: skip
    run_id, started = durable.submit("stuck"), time.monotonic()
    scheduler.start()
    try:
        run = durable.api.wait(run_id, timeout=30)
    finally:
        scheduler.stop()
    assert run["status"] == "cancelled", durable.log.read_text()
    assert "maximum run duration (1 s)" in (run["error"] or "")
    assert time.monotonic() - started < 7  # long before the 8 s step would have ended
    assert _instances(durable, run_id, until=started + 10) == ["cancelled"]  # reported
    time.sleep(max(0.0, started + 10 - time.monotonic()))  # the worker's step has ended
    again = durable.api.call("GET", f"/api/v1/runs/{run_id}").json()
    assert again["status"] == "cancelled" and again["error"] == run["error"]
    assert [i["status"] for i in again["instances"]] == ["cancelled"]


def _instances(durable: Durable, run_id: str, until: float) -> list[str]:
    """The statuses of the run's instances, once the cancellation has reported them."""
    while True:
        found = durable.api.call("GET", f"/api/v1/runs/{run_id}").json()["instances"]
        if found or time.monotonic() > until:
            return [i["status"] for i in found]
        time.sleep(0.1)


# ---------------------------------------------------------------- helpers


def _wait_ready(store: Store, worker: subprocess.Popen[bytes], log: Path) -> None:
    """Until the worker beats (its durable engine is migrated and serving)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert worker.poll() is None, log.read_text()
        with store.engine.connect() as connection:
            table = connection.execute(sa.text("SELECT to_regclass('reqflo_durable_workers')"))
            if table.scalar() is not None:
                beats = connection.execute(sa.text("SELECT count(*) FROM reqflo_durable_workers"))
                if beats.scalar():
                    return
        time.sleep(0.2)
    raise AssertionError(f"the worker did not start:\n{log.read_text()}")
