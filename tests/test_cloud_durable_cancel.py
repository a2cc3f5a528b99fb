"""Durable cancel: unfinished instances end `cancelled`, a summary is written, idempotently.

A real worker subprocess on SQLite runs a 3-row run one instance at a time; the target
holds the first row's request open. The API side (`DurableExecutor(worker=False)`, with
its own JSON Lines sink) cancels the run: every instance is reported `cancelled` and the
run summary says `cancelled`; cancelling again reports the same. The rows never started
are never sent, and cancelling a finished run leaves it alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reqflo.cloud.durable.sinks import read_results
from test_cloud_durable import MASTER_KEY, Target, Workers, journeys, queued, submitter, wait_for
from test_cloud_durable_poison import unfinished_workflows


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target({"row0"})
    server.start()
    yield server
    server.stop()


def test_cancel_reports_every_unfinished_instance_and_a_summary(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_MASTER_KEY", MASTER_KEY)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database = f"sqlite:///{tmp_path / 'reqflo.db'}"
    workers = Workers(database, data_dir)
    rows = journeys()["rows"]
    api, worker_sink = data_dir / "api.jsonl", data_dir / "results.jsonl"
    try:
        workers.start("worker-x")
        client = submitter(database, data_dir)
        client.submit(queued("run-c", rows, target.base_url, rows=3, concurrency=1))
        wait_for(lambda: target.counts["GET row0"] == 1, 30)
        client.cancel("run-c")
        first = read_results(api)
        client.cancel("run-c")  # idempotent
        target.release.set()
        client.submit(queued("run-after", rows, target.base_url, rows=1))
        wait_for(lambda: "run-after" in read_results(worker_sink).summaries, 30)
        client.cancel("run-after")  # finished: left as it is
        client.close()
    finally:
        workers.stop_all()
    again = read_results(api)
    for contents in (first, again):
        summary = contents.summaries["run-c"]
        assert (summary.status, summary.total, summary.errored) == ("cancelled", 3, 3)
        statuses = {i: r.status for (run, i), r in contents.instances.items() if run == "run-c"}
        assert statuses == {0: "cancelled", 1: "cancelled", 2: "cancelled"}
    assert "run-after" not in again.summaries
    assert target.counts["GET row1"] == 0 and target.counts["GET row2"] == 0  # never sent
    assert "run-c" not in read_results(worker_sink).summaries  # the worker stopped it
    assert read_results(worker_sink).summaries["run-after"].status == "passed"
    assert unfinished_workflows(database) == []
