"""`--workers N`: one data run split over forked processes reports like a single run."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def project(e2e_project: Path, demo_url: str, write_env: Callable[..., Path]) -> Path:
    write_env(e2e_project, "demo", base_url=demo_url)
    rows = ["customer,quantity"] + [f"c-{n},{n}" for n in range(1, 31)] + ["c-big,500"]
    (e2e_project / "many.csv").write_text("\n".join(rows) + "\n")
    return e2e_project


def _run(project: Path, *extra: str) -> tuple[int, dict[str, object], list[dict[str, object]]]:
    args = ["run", "orders_rows.yaml", "--env", "demo", "--data", "many.csv",
            "--data-key", "customer", "--concurrency", "4", *extra,
            "--output", "json:r.json", "--output", "ndjson:r.ndjson"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "reqflo.cli", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stderr == "", done.stderr
    report = json.loads((project / "r.json").read_text())
    events = [json.loads(line) for line in (project / "r.ndjson").read_text().splitlines()]
    return done.returncode, report, events


def test_workers_give_the_same_results_as_one_process(project: Path) -> None:
    code_one, one, events_one = _run(project)
    code_two, two, events = _run(project, "--workers", "2")
    assert code_one == code_two == 1  # c-big's quantity fails its assertion
    assert two["summary"]["total"] == 31 and two["summary"]["failed"] == 1
    by_key = {i["key"]: (i["index"], i["status"]) for i in one["instances"]}
    assert {i["key"]: (i["index"], i["status"]) for i in two["instances"]} == by_key
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("run_started") == kinds.count("run_finished") == 1
    assert kinds.count("instance_finished") == 31
    assert events[0]["run_id"] == events[-1]["summary"]["run_id"]
    assert kinds.count("instance_started") == 31  # ndjson wants every kind: none skipped
    assert kinds.count("step_started") == kinds.count("step_finished") > 31
    _assert_one_batch_per_instance(events[1:-1])
    # every instance and every event is the same data as in one process (but for times)
    assert _by_index(two["instances"]) == _by_index(one["instances"])
    assert _instance_events(events) == _instance_events(events_one)


VOLATILE = {"started_at", "duration_ms", "total_ms", "run_id"}


def _timeless(value: object) -> object:
    if isinstance(value, list) and len(value) == 2 and value[0] == "Date":
        return ["Date", "..."]
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_timeless(item) for item in value]
    return value


def _by_index(instances: object) -> list[object]:
    assert isinstance(instances, list)
    return [_timeless(i) for i in sorted(instances, key=lambda i: i["index"])]


def _instance_events(events: list[dict[str, object]]) -> list[object]:
    def order(event: dict[str, object]) -> int:
        result = event.get("result")
        index = event.get("instance", result.get("index") if isinstance(result, dict) else -1)
        assert isinstance(index, int)
        return index

    inner = [e for e in events if e["kind"] not in {"run_started", "run_finished"}]
    return [_timeless(e) for e in sorted(inner, key=order)]  # stable: keeps each one's order


def _assert_one_batch_per_instance(events: list[dict[str, object]]) -> None:
    """A worker sends an instance's events together, in order: started … finished."""
    batch: list[dict[str, object]] = []
    for event in events:
        batch.append(event)
        if event["kind"] != "instance_finished":
            continue
        index = event["result"]["index"]  # type: ignore[index]
        assert batch[0]["kind"] == "instance_started" and batch[0]["instance"] == index
        assert {e.get("instance", index) for e in batch} == {index}
        batch = []
    assert batch == []


def test_events_cross_the_queue_as_plain_data_and_come_back_equal() -> None:
    """pack/unpack: same model, same JSON, same set fields, tuples stay tuples."""
    from reqflo.parallel import pack, unpack
    from reqflo.runner.events import InstanceFinished, StepStarted
    from reqflo.runner.results import (
        AssertionResult,
        Attempt,
        InstanceResult,
        RequestRecord,
        ResponseRecord,
        StepResult,
        Timings,
    )

    check = AssertionResult(
        index=0, type="json_path", operator="in", passed=False,
        expected=[1, "2", (3, 4)], actual={"a": (1, None), 2: 1.5}, path="$.a",
    )  # fmt: skip
    attempt = Attempt(
        number=1,
        request=RequestRecord(method="GET", url="http://x/", headers=(("A", "b"),)),
        response=ResponseRecord(status=200, timings=Timings(total_ms=1.0), body="{}"),
        assertions=(check,),
    )
    step = StepResult(
        index=0, id="s", name="S", status="failed", attempts=(attempt,), outputs={"t": [1]}
    )
    result = InstanceResult(
        index=3, key="k", status="failed", steps=(step,), inputs={"n": 1, "x": (1,)}
    )
    for event in (InstanceFinished(result=result), StepStarted(instance=1, step=0, step_id="s")):
        back = unpack(pack(event))
        assert back == event and type(back) is type(event)
        assert back.model_dump_json() == event.model_dump_json()
        assert back.model_fields_set == event.model_fields_set
    back_result = unpack(pack(InstanceFinished(result=result))).result  # type: ignore[union-attr]
    assert back_result.steps[0].attempts[0].assertions[0].expected == [1, "2", (3, 4)]
    assert back_result.steps[0].attempts[0].assertions[0].actual == {"a": (1, None), 2: 1.5}
    assert back_result.steps[0].attempts[0].response.model_fields_set == {
        "status", "timings", "body"
    }  # fmt: skip


def test_a_finished_instance_reaches_the_parent_while_its_worker_is_still_busy() -> None:
    """Instances are sent in groups, but none waits for the next one to finish: a worker
    that finished two instances and is then busy for seconds has already sent them."""
    import asyncio
    import time

    from reqflo.parallel import FLUSH_SECONDS, run_parallel
    from reqflo.runner.events import InstanceFinished, RunStarted
    from reqflo.runner.results import InstanceResult

    def run(rows: object, reporter: Any) -> None:
        async def body() -> None:
            for index in (0, 1):
                result = InstanceResult(index=index, key=f"k{index}", status="passed")
                reporter.handle(InstanceFinished(result=result))
            await asyncio.sleep(3)  # a long third instance

        asyncio.run(body())

    class Arrivals:
        def __init__(self) -> None:
            self.times: list[float] = []

        def handle(self, event: Any) -> None:
            if isinstance(event, InstanceFinished):
                self.times.append(time.monotonic())

        def close(self) -> None:
            return None

    arrivals = Arrivals()
    started = RunStarted(run_id="r", artifact_id="a" * 64, journey="j", total=2, started_at=0)
    clock = time.monotonic()
    summary = run_parallel(1, lambda i, n: iter(()), 2, run, arrivals, started)  # type: ignore[arg-type]
    assert summary.passed == 2 and len(arrivals.times) == 2
    assert max(arrivals.times) - clock < 1.5 + FLUSH_SECONDS  # not after the 3 s wait
