"""A durable worker's liveness settings: their defaults are the ones
reqflo.cloud.durable.liveness names (`HEARTBEAT_SECONDS`, `DEAD_AFTER_SECONDS`) wherever a
worker is started (`reqflo worker`, `run_worker`, `DurableExecutor`)."""

from __future__ import annotations

import json
import subprocess
import sys

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
