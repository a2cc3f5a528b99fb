"""End to end: `reqflo server` as a real subprocess (SQLite, then a fresh PostgreSQL
database), driven by the real CLI in-process, running the examples against the demo API.

token create → login → env push → run --cloud gives the same console report, `--output`
file and exit code as the local run; a duplicate submit creates one run; runs
list/show/cancel/rerun work.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from reqflo.cli import app
from test_cloud_support import ServerProcess, fresh_postgres

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
VOLATILE = [
    (re.compile(r"\b[0-9a-f]{32}\b"), "<run>"),
    (re.compile(r"\bord-\d{6}\b"), "ord-N"),
    (re.compile(r"\d+(\.\d+)? ?(ms|s)\b"), "<t>"),
]


def invoke(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


class Cloud:
    def __init__(self, server: ServerProcess, admin: str, data_dir: Path, db: str | None) -> None:
        self.server, self.admin, self.data_dir, self.db = server, admin, data_dir, db
        self.http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {admin}"}, timeout=30
        )

    def wait(self, run_id: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run: dict[str, Any] = self.http.get(f"/api/v1/runs/{run_id}").json()
            if run["status"] not in {"queued", "running"}:
                return run
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} did not finish")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cloud(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cloud]:
    root = tmp_path_factory.mktemp(f"cloud-{request.param}")
    data_dir = root / "server"
    with _database(request.param) as db:
        env = {
            "REQFLO_HOME": str(root / "server-home"),
            "REQFLO_SECRET_DEMO_PASSWORD": "demo-password",
        }
        server = ServerProcess(data_dir, db, env)
        try:
            made = invoke("token", "create", "--name", "boot", "--role", "admin",
                          "--data-dir", data_dir, *(["--db", db] if db else []))  # fmt: skip
            assert made.exit_code == 0, made.output
            cloud = Cloud(server, made.stdout.strip(), data_dir, db)
            yield cloud
            cloud.http.close()
        finally:
            server.stop()


def _database(kind: str) -> Any:
    from contextlib import nullcontext

    return fresh_postgres() if kind == "postgresql" else nullcontext(None)


@pytest.fixture
def examples(cloud: Cloud, demo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A logged-in user in a copy of examples/ whose `local` environment is pushed."""
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns(".reqflo", "reports"))
    env_file = folder / "environments" / "local.yaml"
    env_file.write_text(f"base_url: {demo_url}\nusername: demo\n", encoding="utf-8")
    monkeypatch.setenv("REQFLO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("REQFLO_SECRET_DEMO_PASSWORD", "demo-password")
    monkeypatch.chdir(folder)
    logged_in = invoke("login", cloud.server.url, "--token", cloud.admin)
    assert logged_in.exit_code == 0, logged_in.output
    pushed = invoke("env", "push", "local", env_file)
    assert pushed.exit_code == 0, pushed.output
    return folder


def normalized(text: str) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def test_login_stores_a_private_config(examples: Path, cloud: Cloud, tmp_path: Path) -> None:
    config = tmp_path / "home" / "config.json"
    assert config.stat().st_mode & 0o777 == 0o600
    assert json.loads(config.read_text())["cloud"]["url"] == cloud.server.url
    refused = invoke("login", cloud.server.url, "--token", "rqf_wrong")
    assert refused.exit_code == 2 and "unknown or revoked" in refused.output


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("orders.yaml", "--case", "happy_path"), 0),
        (("failing.yaml",), 1),
        (("orders.yaml", "--data", "data/orders.csv", "--data-key", "customer_id"), 0),
    ],
)
def test_cloud_runs_report_like_local_runs(
    examples: Path, tmp_path: Path, args: tuple[str, ...], code: int
) -> None:
    report = tmp_path / "report.json"
    local = invoke("run", *args, "--env", "local", "-o", f"json:{report}")
    mine = json.loads(report.read_text())
    remote = invoke("run", *args, "--env", "local", "--cloud", "-o", f"json:{report}")
    theirs = json.loads(report.read_text())
    assert (local.exit_code, remote.exit_code) == (code, code), remote.output
    assert normalized(remote.stdout) == normalized(local.stdout)
    assert _shape(theirs) == _shape(mine)
    assert "demo-password" not in remote.output + report.read_text()


def _shape(report: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return sorted(
        (i["key"], i["status"], [s["status"] for s in i["steps"]]) for i in report["instances"]
    )


def test_cloud_run_problems_are_usage_errors(examples: Path) -> None:
    unknown = invoke("run", "orders.yaml", "--env", "nowhere", "--cloud")
    assert unknown.exit_code == 2 and "environment 'nowhere' does not exist" in unknown.output
    bad_input = invoke("run", "orders.yaml", "--env", "local", "--set", "nope=1", "--cloud")
    assert bad_input.exit_code == 2 and "declares no input 'nope'" in bad_input.output


def test_a_duplicate_submit_creates_one_run(examples: Path, cloud: Cloud) -> None:
    assert invoke("build", "orders.yaml", "-o", "a.json").exit_code == 0
    artifact = json.loads(Path("a.json").read_text())
    cloud.http.post("/api/v1/artifacts", content=json.dumps(artifact))
    body = {"artifact_id": artifact["id"], "environment": "local", "case": "happy_path",
            "idempotency_key": "dup-1"}  # fmt: skip
    before = cloud.http.get("/api/v1/runs").json()["total"]
    first, second = (cloud.http.post("/api/v1/runs", json=body) for _ in range(2))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert cloud.http.get("/api/v1/runs").json()["total"] == before + 1
    assert cloud.wait(first.json()["id"])["status"] == "passed"


def test_runs_list_show_rerun_and_cancel(examples: Path, cloud: Cloud) -> None:
    assert invoke("run", "orders.yaml", "--env", "local", "--case", "happy_path",
                  "--cloud").exit_code == 0  # fmt: skip
    listed = invoke("runs", "list", "--journey", "Order lifecycle", "--limit", "1")
    assert listed.exit_code == 0 and "passed" in listed.stdout
    run_id = listed.stdout.split()[0]
    shown = invoke("runs", "show", run_id)
    assert "status passed: 1 passed" in shown.stdout and "happy_path: passed" in shown.stdout
    full = json.loads(invoke("runs", "show", run_id, "--json").stdout)
    assert full["instances"][0]["result"]["steps"][0]["id"] == "login"
    rerun = invoke("runs", "rerun", run_id)
    new_id = rerun.stdout.split()[1]
    assert rerun.exit_code == 0 and cloud.wait(new_id)["status"] == "passed"
    slow = _slow_run(examples, cloud)
    cancelled = invoke("runs", "cancel", slow)
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.stdout
    assert cloud.wait(slow)["status"] == "cancelled"
    again = invoke("runs", "cancel", slow)
    assert again.exit_code == 2 and "already finished (cancelled)" in again.output
    assert invoke("runs", "show", "f" * 32).exit_code == 2


def _slow_run(folder: Path, cloud: Cloud) -> str:
    journey = folder / "slow.yaml"
    journey.write_text(
        "journey:\n  name: Slow\n  variables:\n    - {name: base_url, source: environment}\n"
        "  steps:\n    - id: wait\n      name: Wait\n      request:\n        method: GET\n"
        '        url: "{{ variables.base_url }}/slow?ms=3000"\n        timeout: 10s\n',
        encoding="utf-8",
    )
    assert invoke("build", journey, "-o", folder / "slow.json").exit_code == 0
    document = (folder / "slow.json").read_text()
    artifact_id = cloud.http.post("/api/v1/artifacts", content=document).json()["id"]
    run = cloud.http.post("/api/v1/runs", json={"artifact_id": artifact_id, "environment": "local"})
    time.sleep(0.3)
    return str(run.json()["id"])


def test_env_list_shows_pushed_environments(examples: Path) -> None:
    listed = invoke("env", "list")
    assert listed.exit_code == 0 and "local  2 values" in listed.stdout
