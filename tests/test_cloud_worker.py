"""Scale-out: `reqflo server --executor durable` and a separate `reqflo worker` process on a
fresh PostgreSQL database share the queue; a data run submitted to the API completes
with every instance in the store, and the CLI follows it like a local run; with
`--api-only` the server only submits and the worker runs everything."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from reqflo.cli import app
from reqflo.cloud.durable.liveness import sqlalchemy_url
from test_cloud_support import ServerProcess, fresh_postgres, start_worker, stop_worker

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_server_and_worker_share_the_postgres_queue(
    tmp_path: Path, demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"REQFLO_HOME": str(tmp_path / "srv"), "REQFLO_SECRET_DEMO_PASSWORD": "demo-password"}
    data_dir = tmp_path / "server"
    with fresh_postgres() as db:
        server = ServerProcess(data_dir, db, env, executor="durable")
        worker = start_worker(data_dir, db, env)
        try:
            _wait_for_workers(db, 2)  # both take part (a short run may end before one starts)
            _run_through_the_cli(tmp_path, server, db, demo_url, monkeypatch)
        finally:
            stop_worker(worker)
            server.stop()


def test_an_api_only_server_leaves_execution_to_the_workers(
    tmp_path: Path, demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"REQFLO_HOME": str(tmp_path / "srv"), "REQFLO_SECRET_DEMO_PASSWORD": "demo-password"}
    data_dir = tmp_path / "server"
    with fresh_postgres() as db:
        server = ServerProcess(data_dir, db, env, executor="durable", options=("--api-only",))
        worker = start_worker(data_dir, db, env)
        try:
            _wait_for_workers(db, 1)
            _run_through_the_cli(tmp_path, server, db, demo_url, monkeypatch, executors=1)
        finally:
            stop_worker(worker)
            server.stop()


def _wait_for_workers(db: str, count: int, timeout: float = 60.0) -> None:
    engine = sa.create_engine(sqlalchemy_url(db))
    query = sa.text("select count(*) from reqflo_durable_workers")
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with engine.connect() as conn:
                    if (conn.execute(query).scalar() or 0) >= count:
                        return
            except sa.exc.ProgrammingError:
                pass  # the table is created by the first worker to start
            assert time.monotonic() < deadline, "the workers did not register"
            time.sleep(0.1)
    finally:
        engine.dispose()


def _run_through_the_cli(
    tmp_path: Path,
    server: ServerProcess,
    db: str,
    demo_url: str,
    monkeypatch: pytest.MonkeyPatch,
    executors: int = 2,
) -> None:
    cli = CliRunner()
    made = cli.invoke(app, ["token", "create", "--name", "a", "--role", "admin", "--db", db])
    token = made.stdout.strip()
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder)
    (folder / "environments" / "local.yaml").write_text(f"base_url: {demo_url}\nusername: demo\n")
    monkeypatch.setenv("REQFLO_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(folder)
    assert cli.invoke(app, ["login", server.url, "--token", token]).exit_code == 0
    assert cli.invoke(app, ["env", "push", "local", "environments/local.yaml"]).exit_code == 0
    args = ["run", "orders.yaml", "--env", "local", "--data", "data/orders.csv", "--cloud"]
    result = cli.invoke(app, [*args, "-o", "json:r.json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(Path("r.json").read_text())["summary"]["passed"] == 20
    headers = {"Authorization": f"Bearer {token}"}
    runs = httpx.get(f"{server.url}/api/v1/runs", headers=headers).json()["runs"]
    detail = httpx.get(f"{server.url}/api/v1/runs/{runs[0]['id']}", headers=headers).json()
    assert detail["status"] == "passed" and len(detail["instances"]) == 20
    workers = httpx.get(f"{server.url}/api/v1/workers", headers=headers).json()
    # the server's own executor and the separate worker, or only the worker (--api-only)
    assert len(workers) == executors
    assert all(w["seconds_since_heartbeat"] < 30 for w in workers)
