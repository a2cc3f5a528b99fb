"""The `json` reporter: one JSON document with the run, every instance and the summary.

Owns the streamed JSON layout. The opening is written at `RunStarted`, each instance as
its `InstanceFinished` arrives, and the summary at `close`, so memory stays flat for any
number of data rows while the file is still one valid JSON document:

    {"format": "reqflo.report", "version": 1, "run": {...},
     "instances": [{...}, ...], "summary": {...}, "complete": true}
"""

from __future__ import annotations

import json
from pathlib import Path

from reqflo.report.formatting import model_json
from reqflo.report.sink import Sink
from reqflo.runner.events import AnyEvent, InstanceFinished, RunFinished, RunStarted
from reqflo.runner.results import RunSummary

REPORT_FORMAT = "reqflo.report"
REPORT_VERSION = 1


class JsonReporter:
    def __init__(self, path: str | Path | None = None) -> None:
        self.sink = Sink(path)
        self._opened = False
        self._instances = 0
        self._summary: RunSummary | None = None

    def handle(self, event: AnyEvent) -> None:
        if isinstance(event, RunStarted):
            self._open(model_json(event))
        elif isinstance(event, InstanceFinished):
            self._open("null")
            separator = ",\n" if self._instances else "\n"
            self.sink.write(separator + model_json(event.result))
            self._instances += 1
        elif isinstance(event, RunFinished):
            self._summary = event.summary

    def close(self) -> None:
        if self.sink.closed:
            return
        self._open("null")
        summary = model_json(self._summary) if self._summary is not None else "null"
        complete = json.dumps(self._summary is not None)
        self.sink.write(f'\n],\n"summary": {summary},\n"complete": {complete}\n}}\n')
        self.sink.commit()

    def _open(self, run_json: str) -> None:
        if self._opened:
            return
        self._opened = True
        header = json.dumps(REPORT_FORMAT)
        self.sink.write(
            f'{{"format": {header}, "version": {REPORT_VERSION},\n'
            f'"run": {run_json},\n"instances": ['
        )
