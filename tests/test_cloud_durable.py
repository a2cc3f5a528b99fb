"""Durable Cloud Runner: real worker processes, kill -9 mid-step, recovery and policy.

A target server on 127.0.0.1 (in a thread of the test process) counts requests per
method and path and can hold a request open until the test releases it, so a worker
can be killed while that exact step is in flight. Workers are real subprocesses
(`python -m reqflo.cloud.durable.worker`) on SQLite, and on the local PostgreSQL in a
fresh database per test (dropped afterwards).
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web

from engine_helpers import make_artifact
from leakscan import find_leaks
from reqflo.artifact import AssertionPlan, Needs, OutputPlan, RequestPlan, StepPlan
from reqflo.cloud.durable.engine import EngineConfig
from reqflo.cloud.durable.executor import DurableExecutor
from reqflo.cloud.durable.liveness import sqlalchemy_url
from reqflo.cloud.durable.sinks import JsonlSink, SinkContents, read_results
from reqflo.cloud.executor import QueuedInstance, QueuedRun

CANARY = "canary-Secret-7f3a9b"
MASTER_KEY = base64.b64encode(b"k" * 32).decode()
SRC = Path(__file__).resolve().parents[1] / "src"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# ---------------------------------------------------------------- target server


class Target:
    """Counts requests per "METHOD name"; names in `hang_first` hold their first request."""

    def __init__(self, hang_first: set[str]) -> None:
        self.counts: Counter[str] = Counter()
        self.hang_first = hang_first
        self.loop = asyncio.new_event_loop()
        self.release = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        key = f"{request.method} {name}"
        self.counts[key] += 1
        if name in self.hang_first and self.counts[key] == 1:
            await self.release.wait()
        body = {"n": self.counts[key], "auth": request.headers.get("Authorization", "")}
        body["sid"] = request.cookies.get("sid")
        response = web.json_response(body)
        if name == "login":
            response.set_cookie("sid", "s3ss10n")
        return response

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{name}", self.handle)
        self.runner = web.AppRunner(app, handler_cancellation=True)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        async def _stop() -> None:
            self.release.set()
            await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


# ---------------------------------------------------------------- journeys


def get(step_id: str, url: str, **extra: Any) -> StepPlan:
    return StepPlan(id=step_id, name=step_id, request=RequestPlan(method="GET", url=url), **extra)


def post(step_id: str, url: str, headers: dict[str, str] | None = None) -> StepPlan:
    request = RequestPlan(method="POST", url=url, headers=headers or {})
    return StepPlan(id=step_id, name=step_id, request=request)


AUTH = {"Authorization": "Bearer {{ secrets.TOKEN }}"}
LOGIN = StepPlan(
    id="login",
    name="login",
    request=RequestPlan(method="GET", url="{{ env.base_url }}/login", headers=AUTH),
    outputs=(OutputPlan(name="echo", source="body", path="$.auth"),),
)
WHOAMI = get(
    "whoami",
    "{{ env.base_url }}/whoami",
    assertions=(AssertionPlan(type="json_path", path="$.sid", expected="s3ss10n"),),
)
NEEDS = Needs(secrets=("TOKEN",), environment=("base_url",))


def journeys() -> dict[str, Any]:
    return {
        "get": make_artifact(
            LOGIN, get("slowget", "{{ env.base_url }}/slowget"), WHOAMI, needs=NEEDS
        ),
        "post": make_artifact(
            LOGIN, post("slowpost", "{{ env.base_url }}/slowpost"), WHOAMI, needs=NEEDS
        ),
        "postfirst": make_artifact(  # the marker of step 0 rides in the start checkpoint
            post("slowfirst", "{{ env.base_url }}/slowfirst"), WHOAMI, needs=NEEDS
        ),
        "postkey": make_artifact(
            LOGIN,
            post("slowkey", "{{ env.base_url }}/slowkey", {"Idempotency-Key": "k-1"}),
            needs=NEEDS,
        ),
        "rows": make_artifact(
            get("row", "{{ env.base_url }}/row{{ inputs.i }}"),
            needs=Needs(environment=("base_url",), inputs=("i",)),
        ),
    }


def queued(
    run_id: str, artifact: Any, base_url: str, rows: int = 1, concurrency: int = 2
) -> QueuedRun:
    instances = tuple(QueuedInstance(index=i, key=str(i + 1), values={"i": i}) for i in range(rows))
    return QueuedRun(run_id, artifact, instances, "cloud", {"base_url": base_url}, concurrency)


# ---------------------------------------------------------------- workers


class Workers:
    def __init__(
        self,
        db_url: str,
        data_dir: Path,
        env: dict[str, str] | None = None,
        options: tuple[str, ...] = (),
    ) -> None:
        self.db_url, self.data_dir = db_url, data_dir
        self.env = env or {}  # overrides the defaults below
        self.options = options  # more worker options (e.g. --sink)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, executor_id: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "PYTHONPATH": str(SRC),
            "REQFLO_SECRET_TOKEN": CANARY,
            "REQFLO_MASTER_KEY": MASTER_KEY,
            "REQFLO_MAX_RECOVERY_ATTEMPTS": "3",
            **self.env,
        }
        command = [sys.executable, "-m", "reqflo.cloud.durable.worker", "--db", self.db_url]
        command += ["--data-dir", str(self.data_dir), "--executor-id", executor_id]
        command += ["--heartbeat", "0.3", "--dead-after", "1.5", "--poll", "0.1", *self.options]
        with open(self.data_dir / f"{executor_id}.log", "ab") as log:
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        self.procs.append(proc)
        self._wait_registered(executor_id, proc)
        return proc

    def _wait_registered(self, executor_id: str, proc: subprocess.Popen[bytes]) -> None:
        engine = sa.create_engine(sqlalchemy_url(self.db_url))
        try:
            wait_for(lambda: _registered(engine, executor_id) or _died(proc), 20)
        finally:
            engine.dispose()
        assert proc.poll() is None, (self.data_dir / f"{executor_id}.log").read_text()

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _registered(engine: sa.Engine, executor_id: str) -> bool:
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("select 1 from reqflo_durable_workers where executor_id = :e"),
                {"e": executor_id},
            ).fetchall()
        return bool(rows)
    except sa.exc.OperationalError:
        return False
    except sa.exc.ProgrammingError:
        return False


def _died(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is not None


def wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target({"slowget", "slowpost", "slowfirst", "slowkey", "row2"})
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reqflo.db'}"
        return
    name = f"reqflo_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# ---------------------------------------------------------------- the chaos test


def test_kill_9_mid_step_and_mid_data_run(
    target: Target, database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_MASTER_KEY", MASTER_KEY)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    workers = Workers(database, data_dir)
    try:
        first = workers.start("worker-a")
        client = submitter(database, data_dir)
        arts = journeys()
        runs = {
            "get": queued("run-get", arts["get"], target.base_url),
            "post": queued("run-post", arts["post"], target.base_url),
            "postfirst": queued("run-postfirst", arts["postfirst"], target.base_url),
            "postkey": queued("run-postkey", arts["postkey"], target.base_url),
            "rows": queued("run-rows", arts["rows"], target.base_url, rows=6, concurrency=2),
        }
        for run in runs.values():
            client.submit(run)
            client.submit(run)  # a duplicate submit is a no-op
        in_flight = ["GET slowget", "POST slowpost", "POST slowfirst", "POST slowkey", "GET row2"]
        wait_for(lambda: all(target.counts[k] == 1 for k in in_flight), 30)
        done = read_results(data_dir / "results.jsonl").instances
        finished_rows = {i for (run, i) in done if run == "run-rows"}
        first.send_signal(signal.SIGKILL)
        first.wait()
        if database.startswith("sqlite"):
            workers.start("worker-a")  # the same worker comes back and resumes its runs
        else:
            workers.start("worker-b")  # another worker takes the dead worker's runs over
        results = wait_results(data_dir, [r.run_id for r in runs.values()], 40)
        client.close()
    finally:
        workers.stop_all()
    check_counts(target.counts, finished_rows)
    check_results(results)
    check_no_leaks(database, data_dir)


def submitter(database: str, data_dir: Path) -> DurableExecutor:
    config = EngineConfig(database_url=database, data_dir=data_dir, executor_id="api")
    return DurableExecutor(config, JsonlSink(data_dir / "api.jsonl"), worker=False)


def wait_results(data_dir: Path, run_ids: list[str], timeout: float) -> SinkContents:
    path = data_dir / "results.jsonl"
    wait_for(lambda: set(run_ids) <= set(read_results(path).summaries), timeout)
    return read_results(path)


def check_counts(counts: Counter[str], finished_rows: set[int]) -> None:
    assert counts["GET login"] == 3  # once per run: a completed step is never re-sent
    assert counts["GET slowget"] == 2  # interrupted GET: re-sent
    assert counts["POST slowpost"] == 1  # interrupted POST without a key: not re-sent
    assert counts["POST slowfirst"] == 1  # the same as the first step of its journey
    assert counts["POST slowkey"] == 2  # interrupted POST with Idempotency-Key: re-sent
    assert counts["GET whoami"] == 1  # only the GET run gets there
    assert counts["GET row2"] == 2
    for i in (0, 1, 3, 4, 5):
        if i in finished_rows:  # recorded before the kill: never re-sent
            assert counts[f"GET row{i}"] == 1
        assert 1 <= counts[f"GET row{i}"] <= 2  # a GET in flight at the kill may be re-sent


def check_results(results: SinkContents) -> None:
    get_run = results.instances[("run-get", 0)]
    assert get_run.status == "passed"  # the cookie jar survived the crash
    assert [s.status for s in get_run.steps] == ["passed"] * 3
    post_run = results.instances[("run-post", 0)]
    assert post_run.status == "indeterminate"
    assert [s.status for s in post_run.steps] == ["passed", "indeterminate"]
    assert post_run.steps[1].error is not None
    assert post_run.steps[1].error.code == "indeterminate"
    first = results.instances[("run-postfirst", 0)]
    assert [s.status for s in first.steps] == ["indeterminate"]
    assert first.status == "indeterminate"
    assert results.instances[("run-postkey", 0)].status == "passed"
    assert results.summaries["run-post"].status == "indeterminate"
    rows = results.summaries["run-rows"]
    assert (rows.total, rows.passed, rows.status) == (6, 6, "passed")
    assert sorted(i for (run, i) in results.instances if run == "run-rows") == list(range(6))
    login = get_run.steps[0]
    assert login.outputs["echo"] == "Bearer [REDACTED]"


def check_no_leaks(database: str, data_dir: Path) -> None:
    texts = [p.read_bytes().decode("latin-1") for p in data_dir.rglob("*") if p.is_file()]
    if database.startswith("sqlite"):
        assert (Path(database.removeprefix("sqlite:///"))).stat().st_size > 0
        texts.append(Path(database.removeprefix("sqlite:///")).read_bytes().decode("latin-1"))
    else:
        texts.append(dump_postgres(database))
    leaks = [leak for text in texts for leak in find_leaks(text, [CANARY])]
    assert leaks == []


def dump_postgres(database: str) -> str:
    engine = sa.create_engine(sqlalchemy_url(database))
    chunks = []
    with engine.connect() as conn:
        tables = conn.execute(
            sa.text(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('dbos', 'public')"
            )
        ).fetchall()
        for schema, table in tables:
            rows = conn.execute(sa.text(f'select * from "{schema}"."{table}"')).fetchall()
            chunks.append(repr(rows))
    engine.dispose()
    assert "reqflo.instance" in "".join(chunks)  # the dump does see the checkpoints
    return "\n".join(chunks)
