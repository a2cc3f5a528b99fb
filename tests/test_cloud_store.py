"""The store on SQLite and PostgreSQL: migrations, idempotent writes, tokens, filters."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from reqflo.artifact import Artifact
from reqflo.runner.events import InstanceFinished, InstanceStarted, RunFinished, RunStarted
from reqflo.runner.results import InstanceResult, RunSummary
from reqflo.store import NewRun, RunFilter, Store, StoreSink
from test_cloud_support import compiled, opened_store

ORDERS = Path(__file__).resolve().parents[1] / "examples" / "orders.yaml"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    with opened_store(request.param, tmp_path_factory.mktemp("store")) as opened:
        yield opened


@pytest.fixture(scope="module")
def artifact() -> Artifact:
    found = compiled(ORDERS)
    assert isinstance(found, Artifact)
    return found


def new_run(artifact: Artifact, **changes: object) -> NewRun:
    fields: dict[str, object] = {
        "artifact_id": artifact.id, "journey": artifact.plan.journey.name,
        "environment": "local", "requested_by": "tok1", "instances": 2, "concurrency": 5,
    }  # fmt: skip
    fields.update(changes)
    return NewRun(**fields)  # type: ignore[arg-type]


def test_migrating_twice_is_harmless(store: Store) -> None:
    from reqflo.store import migrate

    migrate(store.engine)
    assert store.environments() is not None


def test_artifact_upload_is_idempotent_and_verified_on_read(
    store: Store, artifact: Artifact
) -> None:
    record, created = store.put_artifact(artifact)
    again, created_again = store.put_artifact(artifact)
    assert created is True or record.id == artifact.id
    assert created_again is False and again.id == artifact.id
    assert store.artifact(artifact.id) == artifact
    assert store.artifact("0" * 64) is None


def test_tokens_are_stored_hashed_and_can_be_revoked(store: Store) -> None:
    record, token = store.create_token("ci", "editor")
    assert token.startswith("rqf_")
    assert store.token_for(token) == record
    with store.engine.connect() as connection:
        dump = "\n".join(str(row) for row in connection.exec_driver_sql("SELECT * FROM api_tokens"))
    assert token not in dump
    store.revoke_token(record.id)
    assert store.token_for(token) is None
    with pytest.raises(ValueError, match="role must be one of"):
        store.create_token("x", "root")


def test_duplicate_idempotency_key_returns_the_same_run(store: Store, artifact: Artifact) -> None:
    store.put_artifact(artifact)
    first, created = store.create_run(new_run(artifact, idempotency_key="k-1"))
    second, created_again = store.create_run(new_run(artifact, idempotency_key="k-1"))
    other_owner, created_other = store.create_run(
        new_run(artifact, idempotency_key="k-1", requested_by="tok2")
    )
    assert (created, created_again, created_other) == (True, False, True)
    assert second.id == first.id != other_owner.id


def test_sink_writes_are_idempotent_and_cancel_wins(store: Store, artifact: Artifact) -> None:
    store.put_artifact(artifact)
    run, _ = store.create_run(new_run(artifact))
    sink = StoreSink(store)
    sink.run_started(run.id)
    sink.run_started(run.id)
    result = InstanceResult(index=0, key="a", status="failed")
    for _ in range(2):
        sink.instance_finished(run.id, result)
    sink.instance_finished(run.id, InstanceResult(index=1, key="b", status="passed"))
    assert [(i.index, i.status) for i in store.instances(run.id)] == [(0, "failed"), (1, "passed")]
    live = store.run(run.id)
    assert live is not None and (live.status, live.passed, live.failed) == ("running", 1, 1)
    summary = RunSummary(
        run_id=run.id, artifact_id=artifact.id, journey="j", status="failed", total=2,
        passed=1, failed=1, errored=0, started_at=0.0, duration_ms=1.0,
    )  # fmt: skip
    sink.run_finished(run.id, summary)
    sink.run_finished(run.id, summary)
    done = store.run(run.id)
    assert done is not None and done.status == "failed" and done.finished_at is not None
    cancelled, _ = store.create_run(new_run(artifact))
    store.cancel_run(cancelled.id)
    sink.run_finished(cancelled.id, summary)
    after = store.run(cancelled.id)
    assert after is not None and after.status == "cancelled"


def test_a_result_arriving_after_a_cancel_never_uncancels_the_instance(
    store: Store, artifact: Artifact
) -> None:
    """The durable instance reports from its workflow body: a cancel can report the
    instance `cancelled` just before the real result arrives; cancel wins."""
    store.put_artifact(artifact)
    run, _ = store.create_run(new_run(artifact, instances=2))
    sink = StoreSink(store)
    sink.run_started(run.id)
    sink.instance_finished(run.id, InstanceResult(index=0, key="0", status="passed"))
    store.cancel_run(run.id)
    sink.instance_finished(run.id, InstanceResult(index=1, key="1", status="cancelled"))
    sink.instance_finished(run.id, InstanceResult(index=1, key="1", status="passed"))
    assert [i.status for i in store.instances(run.id)] == ["passed", "cancelled"]
    after = store.run(run.id)
    assert after is not None and (after.status, after.passed, after.errored) == ("cancelled", 1, 1)


def test_events_are_kept_in_order(store: Store, artifact: Artifact) -> None:
    store.put_artifact(artifact)
    run, _ = store.create_run(new_run(artifact))
    sink = StoreSink(store)
    for n in range(3):
        started = RunStarted(run_id=run.id, artifact_id="a", journey=f"j{n}", started_at=0.0)
        sink.event(run.id, started)
    sink.flush()  # events are buffered (see the next test)
    events = store.events_after(run.id, 0)
    assert [e.kind for e in events] == ["run_started"] * 3
    assert store.events_after(run.id, events[0].id)[0].payload == events[1].payload


def test_buffered_events_are_written_in_batches_before_results(
    store: Store, artifact: Artifact
) -> None:
    store.put_artifact(artifact)
    run, _ = store.create_run(new_run(artifact))
    sink = StoreSink(store, flush_every_s=60.0)  # only the writes below flush
    started = RunStarted(run_id=run.id, artifact_id="a", journey="j", started_at=0.0)
    sink.event(run.id, started)
    assert store.events_after(run.id, 0) == []  # buffered
    sink.event(run.id, InstanceStarted(instance=0, key="a"))
    sink.instance_finished(run.id, InstanceResult(index=0, key="a", status="passed"))
    kinds = [e.kind for e in store.events_after(run.id, 0)]
    assert kinds == ["run_started", "instance_started"]  # with the result, in order
    sink.event(run.id, InstanceFinished(result=InstanceResult(index=0, key="a", status="passed")))
    summary = RunSummary(
        run_id=run.id, artifact_id=artifact.id, journey="j", status="passed", total=1,
        passed=1, failed=0, errored=0, started_at=0.0, duration_ms=1.0,
    )  # fmt: skip
    sink.run_finished(run.id, summary)
    assert [e.kind for e in store.events_after(run.id, 0)][2:] == ["instance_finished"]
    sink.event(run.id, RunFinished(summary=summary))  # the last event: written at once
    assert store.events_after(run.id, 0)[-1].kind == "run_finished"


def test_buffered_events_are_written_soon_without_other_writes(
    store: Store, artifact: Artifact
) -> None:
    store.put_artifact(artifact)
    run, _ = store.create_run(new_run(artifact))
    sink = StoreSink(store, flush_every_s=0.05)
    sink.event(run.id, InstanceStarted(instance=0, key="a"))
    deadline = time.monotonic() + 10
    while not store.events_after(run.id, 0):
        assert time.monotonic() < deadline, "a buffered event was never written"
        time.sleep(0.01)


def test_runs_filter_and_paginate(store: Store, artifact: Artifact) -> None:
    store.put_artifact(artifact)
    for _ in range(3):
        store.create_run(new_run(artifact, environment="paging"))
    page, total = store.runs(RunFilter(environment="paging"), limit=2, offset=0)
    rest, _ = store.runs(RunFilter(environment="paging"), limit=2, offset=2)
    assert total == 3 and len(page) == 2 and len(rest) == 1
    assert {r.id for r in page}.isdisjoint({r.id for r in rest})
    assert store.runs(RunFilter(status="nope"))[1] == 0


def test_runs_filter_by_trigger_and_created_window(store: Store, artifact: Artifact) -> None:
    store.put_artifact(artifact)
    run, _ = store.create_run(new_run(artifact, environment="window", trigger="schedule"))
    moment = run.created_at
    window = RunFilter(environment="window", since=moment, until=moment + timedelta(seconds=1))
    assert [r.id for r in store.runs(window)[0]] == [run.id]
    assert store.runs(RunFilter(environment="window", until=moment))[1] == 0  # exclusive
    assert store.runs(RunFilter(environment="window", trigger="schedule"))[1] == 1
    assert store.runs(RunFilter(environment="window", trigger="api"))[1] == 0


def test_environments_upsert(store: Store) -> None:
    store.put_environment("staging", {"base_url": "http://a"})
    store.put_environment("staging", {"base_url": "http://b"})
    found = store.environment("staging")
    assert found is not None and found.values == {"base_url": "http://b"}
    assert "staging" in [e.name for e in store.environments()]


def test_run_counts_follow_an_instance_saved_again_with_another_status(
    store: Store, artifact: Artifact
) -> None:
    store.put_artifact(artifact)
    run, _ = store.create_run(new_run(artifact, instances=3))
    sink = StoreSink(store)
    counts = []
    for index, status in ((0, "failed"), (1, "passed"), (0, "passed"), (2, "indeterminate"),
                          (1, "error"), (1, "error"), (2, "failed")):  # fmt: skip
        sink.instance_finished(run.id, InstanceResult(index=index, key=str(index), status=status))
        live = store.run(run.id)
        assert live is not None
        counts.append((live.passed, live.failed, live.errored))
    assert counts == [(0, 1, 0), (1, 1, 0), (2, 0, 0), (2, 0, 1), (1, 0, 2), (1, 0, 2), (1, 1, 1)]
    statuses = [i.status for i in store.instances(run.id)]
    assert statuses == ["passed", "error", "failed"]


def test_run_counts_stay_exact_under_concurrent_saves_of_one_run(
    store: Store, artifact: Artifact
) -> None:
    """Threads save different instances of one run, and each instance twice (a recovered
    instance reported again, sometimes with another status), events riding along."""
    store.put_artifact(artifact)
    run, _ = store.create_run(new_run(artifact, instances=40))
    sink = StoreSink(store)
    statuses = ("passed", "failed", "error", "indeterminate")
    saves = [(i, statuses[(i + n) % 4]) for n in range(2) for i in range(40)]

    def save(part: int) -> None:
        for index, status in saves[part::8]:
            sink.event(run.id, InstanceStarted(instance=index, key=str(index)))
            sink.instance_finished(
                run.id, InstanceResult(index=index, key=str(index), status=status)
            )

    threads = [threading.Thread(target=save, args=(part,)) for part in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sink.flush()
    final = {i.index: i.status for i in store.instances(run.id)}
    live = store.run(run.id)
    assert live is not None and len(final) == 40
    expected = Counter("passed" if s == "passed" else "failed" if s == "failed" else "errored"
                       for s in final.values())  # fmt: skip
    assert (live.passed, live.failed, live.errored) == (
        expected["passed"], expected["failed"], expected["errored"],
    )  # fmt: skip
    assert len(store.events_after(run.id, 0, limit=1000)) == 80
