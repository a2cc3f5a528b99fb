"""A file-backed `ResultSink` for workers that run without the service's store.

Owns `JsonlSink`: appends one JSON line per call (`run_started`, `instance_finished`,
`run_finished`; progress events are dropped) to a file, each line written with one
`write` on an O_APPEND descriptor so concurrent threads and processes never interleave.
Calls may repeat after a recovery; `read_results` keeps the last line per instance and
per run, which makes the sink idempotent as the contract requires.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reqflo.runner.events import AnyEvent
from reqflo.runner.results import InstanceResult, RunSummary


class JsonlSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def run_started(self, run_id: str) -> None:
        self._append({"kind": "run_started", "run_id": run_id})

    def instance_finished(self, run_id: str, result: InstanceResult) -> None:
        self._append(
            {"kind": "instance", "run_id": run_id, "result": result.model_dump(mode="json")}
        )

    def run_finished(self, run_id: str, summary: RunSummary) -> None:
        self._append({"kind": "run", "run_id": run_id, "summary": summary.model_dump(mode="json")})

    def event(self, run_id: str, event: AnyEvent) -> None:
        return None

    def flush(self) -> None:
        return None  # nothing buffered


@dataclass
class SinkContents:
    started: set[str] = field(default_factory=set)
    instances: dict[tuple[str, int], InstanceResult] = field(default_factory=dict)
    summaries: dict[str, RunSummary] = field(default_factory=dict)
    reports: dict[tuple[str, int], int] = field(default_factory=dict)  # times reported


def read_results(*paths: Path) -> SinkContents:
    """What one or more JsonlSink files recorded (missing files are empty)."""
    contents = SinkContents()
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            _add(contents, json.loads(line))
    return contents


def _add(contents: SinkContents, record: dict[str, Any]) -> None:
    run_id = record["run_id"]
    if record["kind"] == "run_started":
        contents.started.add(run_id)
    elif record["kind"] == "instance":
        result = InstanceResult.model_validate(record["result"])
        key = (run_id, result.index)
        contents.instances[key] = result
        contents.reports[key] = contents.reports.get(key, 0) + 1
    elif record["kind"] == "run":
        contents.summaries[run_id] = RunSummary.model_validate(record["summary"])
