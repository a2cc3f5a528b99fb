"""Bad API input gets a 4xx, never a 500: Schemathesis generates requests from the
service's own OpenAPI document (examples, boundary values, random and stateful
sequences) against the real API on 127.0.0.1 (on SQLite and on PostgreSQL, which refuses what
SQLite keeps, e.g. a NUL in text), with an artifact, environment, run,
secret and schedule in the store so that routes taking ids reach their logic, and
fails on any 5xx. Token routes are left out (a generated DELETE would revoke the
fuzzer's own token). A fixed seed keeps a failure reproducible: the output names the
request (`curl ...`) that answered 500."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reqflo.cloud.api_deps import Services
from reqflo.cloud.app import create_app
from reqflo.cloud.inprocess import InProcessExecutor
from reqflo.store import Store, StoreSink
from test_cloud_api import ECHO, journey_artifact, served
from test_cloud_support import opened_store

SEED = "20261125"
EXAMPLES = "25"  # per operation and phase


def _seed(client: httpx.Client, artifact_id: str) -> dict[str, str]:
    """The ids the routes take, each naming something that exists."""
    run = client.post("/api/v1/runs", json={"artifact_id": artifact_id, "environment": "demo"})
    assert run.status_code == 201, run.text
    secret = client.put("/api/v1/secrets/demo/API_KEY", json={"value": "fuzz-canary-3141"})
    assert secret.status_code in (200, 201), secret.text
    schedule = {"name": "nightly", "journey": "Echo", "cron": "0 3 * * *", "environment": "demo"}
    assert client.post("/api/v1/schedules", json=schedule).status_code == 201
    return {"run_id": run.json()["id"], "artifact_id": artifact_id, "schedule_id": "nightly",
            "environment": "demo", "name": "API_KEY"}  # fmt: skip


def _config(folder: Path, ids: dict[str, str]) -> Path:
    path = folder / "schemathesis.toml"
    lines = ["[parameters]", *(f'"{key}" = "{value}"' for key, value in ids.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def service(
    request: pytest.FixtureRequest, tmp_path: Path, demo_url: str
) -> Iterator[tuple[str, str, Path]]:
    with opened_store(request.param, tmp_path) as store:
        yield from _served(store, tmp_path, demo_url)


def _served(store: Store, tmp_path: Path, demo_url: str) -> Iterator[tuple[str, str, Path]]:
    executor = InProcessExecutor(StoreSink(store), tmp_path)
    _, token = store.create_token("fuzz", "admin")
    store.put_environment("demo", {"base_url": demo_url})
    artifact = journey_artifact(tmp_path, "echo", ECHO)
    store.put_artifact(artifact)
    app = create_app(Services(store=store, executor=executor, data_dir=tmp_path))
    try:
        with served(app) as url:
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
                ids = _seed(client, artifact.id)
            yield url, token, _config(tmp_path, ids)
    finally:
        executor.close()


def test_no_generated_request_gets_a_server_error(service: tuple[str, str, Path]) -> None:
    url, token, config = service
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
        f"{url}/openapi.json", "--header", f"Authorization: Bearer {token}",
        "--checks", "not_a_server_error", "--max-examples", EXAMPLES, "--seed", SEED,
        "--workers", "1", "--exclude-path-regex", "/api/v1/tokens/", "--no-color",
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    done = subprocess.run(  # in the config's folder: it keeps its own state in the cwd
        command, capture_output=True, text=True, timeout=600, env=env, cwd=config.parent
    )
    tail = "\n".join(done.stdout.splitlines()[-80:])
    assert done.returncode == 0, f"{tail}\n{done.stderr[-2000:]}"
    assert "fuzz-canary-3141" not in done.stdout  # the secret is never answered back
