"""A poison run: its step kills the worker every time; it must end `error`, bounded.

The target holds every request to `/poison` open; each time one arrives the test kills
the worker with SIGKILL and starts it again (same executor id, so it resumes its own
workflows at once). With `REQFLO_MAX_RECOVERY_ATTEMPTS=2` the instance workflow is run
three times (first dispatch + 2 recoveries); the next dispatch dead-letters it and the
run workflow records the instance as `error` and writes the run summary. Nothing stays
pending. SQLite only, to stay fast.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web

from engine_helpers import make_artifact
from reqflo.artifact import Needs
from reqflo.cloud.durable.liveness import sqlalchemy_url
from reqflo.cloud.durable.sinks import read_results
from test_cloud_durable import MASTER_KEY, Target, Workers, get, queued, submitter, wait_for

MAX_ATTEMPTS = 2


class HoldingTarget(Target):
    """Holds every request to a name in `hang_always` until the test stops the target."""

    def __init__(self, hang_always: set[str]) -> None:
        super().__init__(set())
        self.hang_always = hang_always

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name in self.hang_always:
            self.counts[f"{request.method} {name}"] += 1
            await self.release.wait()
        return await super().handle(request)


@pytest.fixture
def target() -> Iterator[HoldingTarget]:
    server = HoldingTarget({"poison"})
    server.start()
    yield server
    server.stop()


def test_a_poison_run_ends_error_after_bounded_recoveries(
    target: HoldingTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("REQFLO_MAX_RECOVERY_ATTEMPTS", str(MAX_ATTEMPTS))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database = f"sqlite:///{tmp_path / 'reqflo.db'}"
    workers = Workers(database, data_dir, {"REQFLO_MAX_RECOVERY_ATTEMPTS": str(MAX_ATTEMPTS)})
    artifact = make_artifact(
        get("poison", "{{ env.base_url }}/poison"), needs=Needs(environment=("base_url",))
    )
    try:
        worker = workers.start("worker-p")
        client = submitter(database, data_dir)
        client.submit(queued("run-poison", artifact, target.base_url))
        for sent in range(1, MAX_ATTEMPTS + 2):
            wait_for(lambda n=sent: target.counts["GET poison"] == n, 30)  # type: ignore[misc]
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            worker = workers.start("worker-p")
        path = data_dir / "results.jsonl"
        wait_for(lambda: "run-poison" in read_results(path).summaries, 30)
        client.close()
    finally:
        workers.stop_all()
    results = read_results(path)
    assert target.counts["GET poison"] == MAX_ATTEMPTS + 1  # bounded: never sent again
    summary = results.summaries["run-poison"]
    assert (summary.status, summary.total, summary.errored) == ("error", 1, 1)
    poisoned = results.instances[("run-poison", 0)]
    assert poisoned.status == "error"
    assert poisoned.error is not None and "poison instance" in poisoned.error.message
    assert unfinished_workflows(database) == []


def unfinished_workflows(database: str) -> list[str]:
    engine = sa.create_engine(sqlalchemy_url(database))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "select workflow_uuid from workflow_status "
                    "where status in ('PENDING', 'ENQUEUED', 'DELAYED')"
                )
            ).fetchall()
    finally:
        engine.dispose()
    return [r[0] for r in rows]
