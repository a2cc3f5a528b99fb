"""Durable instance workflows whose run spec is not in the worker's cache, and progress
events of instances run by a worker process: real `reqflo worker` subprocesses on SQLite.

* A run whose spec was evicted from the worker's cache (more than `SpecCache` capacity
  runs started while its step was in flight) still reports its instance's real result:
  the spec read back in the workflow body is not recorded as a step of the workflow.
* An instance's `instance_finished` event is in the store as soon as its result is (the
  worker's StoreSink buffers events; `reqflo worker` with a sink that never flushes on
  its own timer), and a worker stopped by SIGTERM writes the events it still buffered.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from reqflo.cloud.durable.sinks import read_results
from reqflo.cloud.durable.specs import SpecCache
from reqflo.cloud.executor import QueuedInstance, QueuedRun
from reqflo.store import NewRun, Store, StoreSink
from test_cloud_durable import (
    MASTER_KEY,
    SRC,
    Target,
    Workers,
    get,
    journeys,
    make_artifact,
    queued,
    submitter,
    wait_for,
)

TESTS = Path(__file__).resolve().parent
CAPACITY = SpecCache(lambda run_id: None).capacity


def worker_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """The workers' master key (in the environment), data directory and SQLite URL."""
    monkeypatch.setenv("REQFLO_MASTER_KEY", MASTER_KEY)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return data_dir, f"sqlite:///{tmp_path / 'reqflo.db'}"


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target({"slowget"})
    server.start()
    yield server
    server.stop()


def test_an_instance_whose_run_spec_was_evicted_still_reports_its_result(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, database = worker_files(tmp_path, monkeypatch)
    workers = Workers(database, data_dir)
    slow = make_artifact(get("slowget", "{{ env.base_url }}/slowget"))
    others = [f"run-{n}" for n in range(CAPACITY + 1)]
    try:
        workers.start("worker-e")
        client = submitter(database, data_dir)
        client.submit(queued("run-slow", slow, target.base_url))
        wait_for(lambda: target.counts["GET slowget"] == 1, 30)
        for run_id in others:  # each run workflow caches its spec: run-slow's is evicted
            client.submit(queued(run_id, journeys()["rows"], target.base_url))
        wait_for(lambda: set(others) <= set(read_results(data_dir / "results.jsonl").summaries), 60)
        target.loop.call_soon_threadsafe(target.release.set)
        wait_for(lambda: "run-slow" in read_results(data_dir / "results.jsonl").summaries, 30)
        client.close()
    finally:
        workers.stop_all()
    results = read_results(data_dir / "results.jsonl")
    slow_result = results.instances[("run-slow", 0)]
    assert slow_result.error is None, slow_result.error
    assert (slow_result.status, [s.status for s in slow_result.steps]) == ("passed", ["passed"])
    assert results.summaries["run-slow"].status == "passed"


def lazy_store_sink(database_url: str, data_dir: Path) -> StoreSink:
    """A worker's sink whose timer never fires during a test: only writes flush it."""
    return StoreSink(Store.open(database_url), flush_every_s=3600.0)


LAZY_ENV = {"PYTHONPATH": f"{SRC}:{TESTS}"}
LAZY_SINK = ("--sink", "test_cloud_durable_replay:lazy_store_sink")


def stored_run(store: Store, base_url: str, paths: tuple[str, ...]) -> tuple[str, QueuedRun]:
    """A run in the store (one row per path, one at a time) and its QueuedRun."""
    artifact = make_artifact(get("row", "{{ env.base_url }}/{{ inputs.path }}"))
    store.put_artifact(artifact)
    new = NewRun(
        artifact_id=artifact.id,
        journey=artifact.plan.journey.name,
        environment="cloud",
        requested_by="t",
        instances=len(paths),
        concurrency=1,
    )
    run, _ = store.create_run(new)
    rows = tuple(QueuedInstance(i, str(i + 1), {"path": p}) for i, p in enumerate(paths))
    return run.id, QueuedRun(run.id, artifact, rows, "cloud", {"base_url": base_url}, 1)


def test_events_of_a_worker_are_stored_with_results_and_on_sigterm(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, database = worker_files(tmp_path, monkeypatch)
    store = Store.open(database)
    run_id, spec = stored_run(store, target.base_url, ("fast", "slowget"))
    workers = Workers(database, data_dir, LAZY_ENV, LAZY_SINK)
    try:
        worker = workers.start("worker-s")
        client = submitter(database, data_dir)
        client.submit(spec)
        wait_for(lambda: target.counts["GET slowget"] == 1, 30)
        wait_for(lambda: [i.index for i in store.instances(run_id)] == [0], 30)
        kinds = [(e.kind, e.payload) for e in store.events_after(run_id, 0)]
        assert any(k == "instance_finished" for k, _ in kinds), kinds  # stored with the result
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
        client.close()
    finally:
        target.loop.call_soon_threadsafe(target.release.set)
        workers.stop_all()
    kinds = [e.kind for e in store.events_after(run_id, 0)]
    assert kinds.count("step_started") == 2, kinds  # row 1's, buffered at SIGTERM: written
    store.close()


def test_the_run_started_event_is_stored_when_the_run_starts(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, database = worker_files(tmp_path, monkeypatch)
    store = Store.open(database)
    run_id, spec = stored_run(store, target.base_url, ("slowget",))
    workers = Workers(database, data_dir, LAZY_ENV, LAZY_SINK)
    try:
        workers.start("worker-r")
        client = submitter(database, data_dir)
        client.submit(spec)
        wait_for(lambda: target.counts["GET slowget"] == 1, 30)
        kinds = [e.kind for e in store.events_after(run_id, 0)]
        # before any instance of the run (on this or another worker) can store an event
        assert kinds[:1] == ["run_started"], kinds
        client.close()
    finally:
        target.loop.call_soon_threadsafe(target.release.set)
        workers.stop_all()
    store.close()


def test_a_worker_stopped_by_sigterm_with_a_step_in_flight_exits(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step's coroutine outlives the transport's close (it waits out a transport
    retry backoff): the workflow thread waiting for it must not keep the process alive."""
    data_dir, database = worker_files(tmp_path, monkeypatch)
    workers = Workers(database, data_dir)
    slow = make_artifact(get("slowget", "{{ env.base_url }}/slowget"))
    spec = queued("run-held", slow, target.base_url)
    spec = QueuedRun(**{**spec.__dict__, "transport_retries": 2,
                        "transport_retry_backoff_seconds": 120.0})  # fmt: skip
    try:
        worker = workers.start("worker-t")
        client = submitter(database, data_dir)
        client.submit(spec)
        wait_for(lambda: target.counts["GET slowget"] == 1, 30)
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)  # raises TimeoutExpired if the process hangs on exit
        workers.start("worker-t")  # resumes the run: the cut-off step left no checkpoint
        wait_for(lambda: "run-held" in read_results(data_dir / "results.jsonl").summaries, 30)
        client.close()
    finally:
        target.loop.call_soon_threadsafe(target.release.set)
        workers.stop_all()
    result = read_results(data_dir / "results.jsonl").instances[("run-held", 0)]
    assert (result.status, target.counts["GET slowget"]) == ("passed", 2)
