"""The run specs this worker process knows, so an instance workflow carries only its row.

Owns `SpecCache`: run id → `RunSpec` (artifact, environment values, limits, rows), kept
for the `capacity` (64) most recently used runs. A run's spec is its run workflow's input,
which never changes once enqueued, so an entry is never stale; it is only evicted. On a
miss (a worker that did not run the run workflow, or one restarted after a crash) the
spec is read once from the durable engine (`load(run_id)`, the run workflow's input;
one read at a time, so threads that miss together wait for it) and parsed once per
process, instead of every instance workflow row carrying, sealing and parsing its own
copy of the artifact.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from reqflo.cloud.durable.jobs import RunSpec

SpecLoader = Callable[[str], RunSpec | None]
# More than the runs one worker coordinates at once (EngineConfig.run_concurrency, 50):
# with fewer, interleaved instances of many runs would read a spec back almost every time.
CAPACITY = 64


class SpecMissingError(LookupError):
    """The run's workflow (and so its spec) is not in the durable engine's database."""


class SpecCache:
    def __init__(self, load: SpecLoader, capacity: int = CAPACITY) -> None:
        self._load = load
        self.capacity = capacity
        self._specs: OrderedDict[str, RunSpec] = OrderedDict()
        self._lock = threading.Lock()  # guards _specs
        self._reading = threading.Lock()  # one read at a time: no stampede on one run

    def remember(self, spec: RunSpec) -> None:
        with self._lock:
            self._specs[spec.run_id] = spec
            self._specs.move_to_end(spec.run_id)
            while len(self._specs) > self.capacity:
                self._specs.popitem(last=False)

    def get(self, run_id: str) -> RunSpec:
        spec = self._cached(run_id)
        if spec is not None:
            return spec
        with self._reading:  # threads that missed together wait for the first one's read
            spec = self._cached(run_id)
            if spec is None:
                spec = self._load(run_id)  # a database read, outside `_lock`
                if spec is None:
                    raise SpecMissingError(
                        f"run {run_id} has no run workflow to read its spec from"
                    )
                self.remember(spec)
        return spec

    def _cached(self, run_id: str) -> RunSpec | None:
        with self._lock:
            spec = self._specs.get(run_id)
            if spec is not None:
                self._specs.move_to_end(run_id)
            return spec

    def __contains__(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._specs
