"""Crash-and-recover canary: a vault secret survives a kill -9 mid-step and leaks nowhere.

A random canary is set (twice, so the run must use version 2) in the encrypted secret
store (SecretVault under the data directory's own master key, scoped to the run's
environment); the worker's `REQFLO_SECRET_TOKEN` holds a decoy, so only the vault can
supply the value. The journey's GET sends the canary in the Authorization header and in
the query string to a target that echoes the header back in its body and holds the first
request open. The worker is killed with SIGKILL while that request is in flight and
started again; the GET is re-sent (safe method) and the run passes. Then the SQLite
file with its WAL, every file in the data directory (master key, worker logs, the sink's
results) are scanned with tests/leakscan.py: no canary in any encoding.
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from engine_helpers import make_artifact
from leakscan import find_leaks
from reqflo.artifact import Artifact, Needs, OutputPlan, RequestPlan, StepPlan
from reqflo.cloud.durable.keys import load_master_key
from reqflo.cloud.durable.sinks import read_results
from reqflo.store import Store
from reqflo.store.secret_audit import AuditFilter
from reqflo.store.secret_store import SecretVault
from test_cloud_durable import Target, Workers, queued, submitter, wait_for

RUN_ID = "run-canary"
ENVIRONMENT = "cloud"  # the environment `queued` gives the run


class RecordingTarget(Target):
    """Also records what each request carried (to prove the canary was really sent)."""

    def __init__(self, hang_first: set[str]) -> None:
        super().__init__(hang_first)
        self.seen: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(f"{request.query_string} {request.headers.get('Authorization', '')}")
        return await super().handle(request)


@pytest.fixture
def target() -> Iterator[RecordingTarget]:
    server = RecordingTarget({"slowget"})
    server.start()
    yield server
    server.stop()


def canary_journey() -> Artifact:
    request = RequestPlan(
        method="GET",
        url="{{ env.base_url }}/slowget?t={{ secrets.TOKEN }}",
        headers={"Authorization": "Bearer {{ secrets.TOKEN }}"},
    )
    step = StepPlan(
        id="slowget",
        name="slowget",
        request=request,
        outputs=(OutputPlan(name="echo", source="body", path="$.auth"),),
    )
    return make_artifact(step, needs=Needs(secrets=("TOKEN",), environment=("base_url",)))


def test_a_vault_canary_survives_kill_9_and_leaks_nowhere(
    target: RecordingTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQFLO_MASTER_KEY", raising=False)  # the data dir's own key
    canary = f"canary-{secrets.token_urlsafe(18)}"
    data_dir, db_file = tmp_path / "data", tmp_path / "reqflo.db"
    data_dir.mkdir()
    database = f"sqlite:///{db_file}"
    store = Store.open(database)
    vault = SecretVault(store, load_master_key(data_dir))
    vault.put(ENVIRONMENT, "TOKEN", f"old-{canary}", "test")
    vault.put(ENVIRONMENT, "TOKEN", canary, "test")
    env = {"REQFLO_MASTER_KEY": "", "REQFLO_SECRET_TOKEN": "decoy-not-the-vault-value"}
    workers = Workers(database, data_dir, env)
    try:
        worker = workers.start("worker-c")
        client = submitter(database, data_dir)
        client.submit(queued(RUN_ID, canary_journey(), target.base_url))
        wait_for(lambda: target.counts["GET slowget"] == 1, 30)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        workers.start("worker-c")
        path = data_dir / "results.jsonl"
        wait_for(lambda: RUN_ID in read_results(path).summaries, 30)
        client.close()
        live = stored_texts(db_file, tmp_path)  # the WAL before the workers checkpoint it
    finally:
        workers.stop_all()
    audit = vault.audit(AuditFilter(run_id=RUN_ID))
    store.close()
    results = read_results(path)
    assert target.counts["GET slowget"] == 2  # the interrupted GET was re-sent
    assert all(canary in seen for seen in target.seen) and len(target.seen) == 2
    assert results.summaries[RUN_ID].status == "passed"
    step = results.instances[(RUN_ID, 0)].steps[0]
    assert step.status == "passed" and step.outputs["echo"] == "Bearer [REDACTED]"
    resolved = [(e.action, e.environment, e.name, e.version) for e in audit]
    assert ("resolve", ENVIRONMENT, "TOKEN", 2) in resolved
    check_no_canary({**live, **stored_texts(db_file, tmp_path)}, canary)


def stored_texts(db_file: Path, root: Path) -> dict[str, str]:
    """Every file under the test's directory: database, WAL, data dir, logs, results."""
    files = {p for p in root.rglob("*") if p.is_file()}
    files |= {p for p in (db_file, Path(f"{db_file}-wal")) if p.exists()}
    return {str(p): p.read_bytes().decode("latin-1") for p in sorted(files)}


def check_no_canary(texts: dict[str, str], canary: str) -> None:
    names = {Path(n).name for n in texts}
    assert {"reqflo.db", "results.jsonl", "worker-c.log", "master.key"} <= names
    database = texts[next(n for n in texts if n.endswith("reqflo.db"))]
    assert RUN_ID in database and "reqflo.instance" in database  # the scan reads it
    leaks = {name: found for name, text in texts.items() if (found := find_leaks(text, [canary]))}
    assert leaks == {}
    for name, text in texts.items():  # sanity: the scan would see a canary in any of them
        assert find_leaks(text + canary, [canary]), name
