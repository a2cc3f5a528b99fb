"""End to end canary test of cloud-managed secrets (issue 5).

`reqflo server` runs as a real subprocess on SQLite (in-process, then durable executor)
and on a fresh PostgreSQL database (durable executor). Random canary secrets are set
through the admin CLI (value on stdin) and API, in the run's environment and
workspace-wide (`*`); the server sees no `REQFLO_SECRET_*` variable and no secrets file.
The leak journey (tests/leaks/reflect.yaml) makes a recording demo target reflect them
in headers, Basic auth, query strings, every body kind, a 500, failed assertions,
retries, a timeout and a refused connection. Then every output is scanned with the
independent scanner (tests/leakscan.py): every file in the server's data directory (the
SQLite database with its WAL, the DBOS tables included), a `pg_dump` of the PostgreSQL
database (every table, the workflow engine's included), the server log, API responses
(runs, events, secrets, versions, audit), CLI output and report files. The target's own
recording proves the canaries were really resolved.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from leakscan import find_leaks
from reqflo.cli import app
from test_cloud_support import ServerProcess, fresh_postgres
from test_leaks import ENV, PLANTED, REPORTS, SUFFIX, RecordingTarget, make_project

WORKSPACE_WIDE = "LEAK_PLAIN"  # set in `*`; every other canary in the run's environment
VIA_CLI = ("LEAK_PLAIN", "LEAK_SPECIAL", "LEAK_UNICODE")  # the others through the API


@dataclass
class Outputs:
    texts: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    exit_code: int = -1
    tokens: list[str] = field(default_factory=list)
    traffic: str = ""
    audit: list[dict[str, object]] = field(default_factory=list)


def invoke(*args: str | Path, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout + "\n" + result.stderr


@pytest.fixture(scope="module", params=["inprocess-sqlite", "durable-sqlite", "durable-postgresql"])
def outputs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Outputs]:
    executor, database = request.param.split("-")
    target = RecordingTarget()
    root = tmp_path_factory.mktemp(f"secrets-e2e-{request.param}")
    project = make_project(root, target.start())
    (project / ".reqflo" / "secrets.yaml").unlink()  # values come from the cloud store only
    data_dir = root / "server"
    with ExitStack() as stack:
        stack.callback(target.stop)
        db = stack.enter_context(fresh_postgres()) if database == "postgresql" else None
        server = ServerProcess(data_dir, db, {"REQFLO_HOME": str(root / "srv")}, executor)
        stack.callback(server.stop)
        with pytest.MonkeyPatch.context() as mp:
            for name in [n for n in os.environ if n.startswith("REQFLO_SECRET_")]:
                mp.delenv(name)
            mp.setenv("REQFLO_HOME", str(root / "home"))
            mp.chdir(project)
            out = exercise(server, data_dir, db, target)
            if db is not None:
                out.texts["postgresql-dump"] = pg_dump(db)
            yield out


def pg_dump(url: str) -> str:
    """Every table of the database (ours and the workflow engine's), as SQL text."""
    done = subprocess.run(["pg_dump", "--no-owner", url], capture_output=True, check=True)
    text = done.stdout.decode("utf-8", errors="replace")
    assert "secret_audit" in text and "dbos" in text
    return text


def exercise(
    server: ServerProcess, data_dir: Path, db: str | None, target: RecordingTarget
) -> Outputs:
    out = Outputs()
    args = ["token", "create", "--name", "ops", "--role", "admin", "--data-dir", str(data_dir)]
    made = CliRunner().invoke(app, [*args, *(["--db", db] if db else [])])
    assert made.exit_code == 0, made.output
    admin = made.stdout.strip()
    out.texts["cli:login"] = invoke("login", server.url, "--token", admin)[1]
    out.texts["cli:env"] = invoke("env", "push", ENV, f"environments/{ENV}.yaml")[1]
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"})
    with http:
        set_canaries(out, http)
        args = ["run", "reflect.yaml", "--env", ENV, "--cloud", "-v"]
        for fmt in REPORTS:
            args += ["-o", f"{fmt}:out/r.{SUFFIX[fmt]}"]
        out.exit_code, out.texts["cli:run"] = invoke(*args)
        runs = http.get("/api/v1/runs").json()
        out.run_id = runs["runs"][0]["id"]
        collect_api(out, http)
    collect_cli(out)
    for fmt in REPORTS:
        out.texts[f"report:{fmt}"] = Path(f"out/r.{SUFFIX[fmt]}").read_text("utf-8")
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        out.texts[f"file:{path.name}"] = path.read_bytes().decode("utf-8", errors="replace")
    out.texts["server-log"] = server.log.read_text("utf-8", errors="replace")
    out.tokens, out.traffic = target.tokens(), target.traffic()
    return out


def set_canaries(out: Outputs, http: httpx.Client) -> None:
    for name, value in PLANTED.items():
        env = "*" if name == WORKSPACE_WIDE else ENV
        if name in VIA_CLI:
            code, text = invoke("secrets", "set", name, "--env", env, stdin=value)
            assert code == 0, text
            out.texts[f"cli:set:{name}"] = text
        else:
            answer = http.put(f"/api/v1/secrets/{env}/{name}", json={"value": value})
            assert answer.status_code == 201, answer.text
            out.texts[f"api:set:{name}"] = answer.text


def collect_api(out: Outputs, http: httpx.Client) -> None:
    for path in ("/api/v1/runs", f"/api/v1/runs/{out.run_id}", f"/api/v1/runs/{out.run_id}/events",
                 "/api/v1/secrets", f"/api/v1/secrets/{ENV}/LEAK_PASSWORD/versions",
                 "/api/v1/secrets/audit?limit=1000", "/api/v1/secrets/audit/verify"):  # fmt: skip
        answer = http.get(path, params={"last_event_id": 0} if path.endswith("events") else None)
        out.texts[f"api:{path}"] = answer.text
    audit = http.get("/api/v1/secrets/audit", params={"run_id": out.run_id}).json()
    out.audit = list(audit)


def collect_cli(out: Outputs) -> None:
    for args in (("secrets", "list"), ("secrets", "audit", "--limit", "1000"),
                 ("secrets", "audit", "--verify"), ("secrets", "versions", "LEAK_MULTI", "--env",
                 ENV), ("runs", "show", out.run_id, "--json"), ("runs", "list")):  # fmt: skip
        code, text = invoke(*args)
        assert code == 0, text
        out.texts["cli:" + " ".join(args)] = text


def test_the_canaries_were_resolved_in_the_worker_and_reached_the_target(outputs: Outputs) -> None:
    assert outputs.exit_code in {1, 3}, outputs.texts["cli:run"]  # failures by design
    for name, value in PLANTED.items():
        assert find_leaks(outputs.traffic, [value]), f"{name} never reached the target"
    resolved = {(e["name"], e["environment"], e["version"]) for e in outputs.audit}
    expected = {(n, "*" if n == WORKSPACE_WIDE else ENV, 1) for n in PLANTED}
    assert resolved == expected
    assert {e["action"] for e in outputs.audit} == {"resolve"}


def test_no_canary_in_any_output(outputs: Outputs) -> None:
    canaries = [*PLANTED.values(), *outputs.tokens]
    leaks = {
        channel: found for channel, text in outputs.texts.items()
        if (found := find_leaks(text, canaries))
    }  # fmt: skip
    assert not leaks
    stored = ("file:reqflo.db", "postgresql-dump")
    database = "".join(t for n, t in outputs.texts.items() if n.startswith(stored))
    assert outputs.run_id in database and "LEAK_SPECIAL" in database  # the scan reads it


def test_the_scan_would_see_a_canary_in_any_channel(outputs: Outputs) -> None:
    """Sanity: the scanner flags each channel with one canary appended."""
    for channel, text in outputs.texts.items():
        assert find_leaks(text + PLANTED["LEAK_SPECIAL"], PLANTED.values()), channel


def test_the_audit_chain_verifies_after_the_runs(outputs: Outputs) -> None:
    assert '"ok":true' in outputs.texts["api:/api/v1/secrets/audit/verify"]
    assert "audit log intact" in outputs.texts["cli:secrets audit --verify"]
