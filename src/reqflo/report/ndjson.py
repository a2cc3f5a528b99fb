"""The `ndjson` reporter: every event, exactly as the engine's event model dumps it, one per line.

Owns the event-stream output other tools consume (`jq`, log shippers, the cloud client).
On standard output each line is flushed as it happens, so a pipe sees a live feed.
"""

from __future__ import annotations

from pathlib import Path

from reqflo.report.formatting import model_json
from reqflo.report.sink import Sink
from reqflo.runner.events import AnyEvent


class NdjsonReporter:
    def __init__(self, path: str | Path | None = None) -> None:
        self.sink = Sink(path)

    def handle(self, event: AnyEvent) -> None:
        self.sink.write(model_json(event) + "\n")
        if self.sink.is_stdout:
            self.sink.flush()

    def close(self) -> None:
        self.sink.commit()
