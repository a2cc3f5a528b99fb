"""A durable worker's liveness settings: their defaults are the ones
reqflo.cloud.durable.liveness names (`HEARTBEAT_SECONDS`, `DEAD_AFTER_SECONDS`) wherever a
worker is started (`reqflo worker`, `run_worker`, `DurableExecutor`), and each worker
records its heartbeat interval in its row of `reqflo_durable_workers` (real SQLite and
PostgreSQL), adding the column to a table an older version created."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
import sqlalchemy as sa

from reqflo.cloud.durable.liveness import (
    Liveness,
    column_names,
    create_table,
    sqlalchemy_url,
    workers_table,
)
from test_cloud_support import fresh_postgres

DEFAULTS_WITH_OTHER_CONSTANTS = """
import inspect, json
from reqflo.cloud.durable import liveness
liveness.HEARTBEAT_SECONDS, liveness.DEAD_AFTER_SECONDS = 7.25, 41.5
from reqflo.cloud.durable import executor, worker
args = worker._parser().parse_args(["--db", "sqlite:///x.db", "--data-dir", "d"])
found = {"parser": [args.heartbeat, args.dead_after]}
for name, function in (("run_worker", worker.run_worker),
                       ("executor", executor.DurableExecutor.__init__)):
    parameters = inspect.signature(function).parameters
    found[name] = [parameters["heartbeat_s"].default, parameters["dead_after_s"].default]
print(json.dumps(found))
"""


def test_worker_defaults_follow_the_liveness_constants() -> None:
    """Changed before the worker modules are imported, the constants become every default
    (a fresh interpreter, so that no module of this one is imported twice)."""
    done = subprocess.run(
        [sys.executable, "-c", DEFAULTS_WITH_OTHER_CONSTANTS],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found == {name: [7.25, 41.5] for name in ("parser", "run_worker", "executor")}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    sqlite = nullcontext(f"sqlite:///{tmp_path / 'reqflo.db'}")
    with sqlite if request.param == "sqlite" else fresh_postgres() as url:
        yield url


@pytest.fixture
def engine(database: str) -> Iterator[sa.Engine]:
    made = sa.create_engine(sqlalchemy_url(database))
    yield made
    made.dispose()


def worker(database: str, executor_id: str, interval_s: float) -> Liveness:
    """A started worker's liveness (it beats at once; its thread waits `interval_s`)."""
    liveness = Liveness(database, executor_id, lambda ids: 0,
                        interval_s=interval_s, dead_after_s=4 * interval_s)  # fmt: skip
    liveness.start()
    return liveness


def recorded(engine: sa.Engine) -> dict[str, float | None]:
    query = sa.select(workers_table.c.executor_id, workers_table.c.heartbeat_interval_s)
    with engine.connect() as connection:
        return {str(e): interval for e, interval in connection.execute(query)}


def test_each_worker_records_its_own_heartbeat_interval(database: str, engine: sa.Engine) -> None:
    first, second = worker(database, "w-7", 7.5), worker(database, "w-60", 60)
    try:
        assert recorded(engine) == {"w-7": 7.5, "w-60": 60.0}
        second.interval_s = 45  # as a worker restarted under its id with --heartbeat 45
        second.beat()
        assert recorded(engine) == {"w-7": 7.5, "w-60": 45.0}
    finally:
        first.stop()
        second.stop()
    assert recorded(engine) == {}


OLDER_TABLE = """CREATE TABLE reqflo_durable_workers (
    executor_id VARCHAR(200) PRIMARY KEY, host VARCHAR(255) NOT NULL, pid INTEGER NOT NULL,
    started_at FLOAT NOT NULL, heartbeat_at FLOAT NOT NULL)"""


def test_a_table_of_an_older_version_gets_the_column(database: str, engine: sa.Engine) -> None:
    """An older worker's row stays (interval unknown) and keeps beating as it did."""
    with engine.begin() as connection:
        connection.execute(sa.text(OLDER_TABLE))
        connection.execute(sa.text("INSERT INTO reqflo_durable_workers VALUES "
                                   "('older', 'box', 1, 100.0, 200.0)"))  # fmt: skip
    assert "heartbeat_interval_s" not in column_names(engine)
    newer = worker(database, "newer", 30)
    try:
        with engine.begin() as connection:  # the older worker's heartbeat names its columns
            connection.execute(sa.text("UPDATE reqflo_durable_workers SET heartbeat_at = 300.0"
                                       " WHERE executor_id = 'older'"))  # fmt: skip
        assert recorded(engine) == {"older": None, "newer": 30.0}
    finally:
        newer.stop()


def test_workers_starting_at_once_add_the_column_once(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text(OLDER_TABLE))
    barrier, failures = threading.Barrier(4), []

    def start() -> None:
        barrier.wait()
        try:
            create_table(engine)
        except Exception as exc:  # reported below, with the thread's error
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == [] and "heartbeat_interval_s" in column_names(engine)
