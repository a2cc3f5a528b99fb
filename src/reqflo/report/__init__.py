"""Reporters: turn the engine's event stream into console output and report files.

Every reporter implements `reqflo.runner.events.Reporter` (`handle(event)`, `close()`),
receives results that are already redacted, and keeps memory flat however many data
rows run (file reporters stream to disk as instances finish and appear atomically at
`close`). Modules:

    console        ConsoleReporter: live terminal view, progress bar, failures, summary
    json_report    JsonReporter: one JSON document (run, instances, summary)
    junit          JunitReporter: JUnit XML for CI servers
    html           HtmlReporter: one self-contained HTML page (templates/)
    tap            TapReporter: TAP version 14
    ndjson         NdjsonReporter: every event as one JSON line
    registry       open_reporter / open_reporters (`--output FORMAT[:PATH]`), Fanout
    formatting     shared status words, durations, values and bodies
    sink           stdout or atomically-written files, scratch spools
"""

import importlib
from typing import Any

from reqflo.report.console import ConsoleReporter
from reqflo.report.registry import (
    FORMATS,
    Fanout,
    OutputSpec,
    open_reporter,
    open_reporters,
    parse_output_spec,
)

_FILE_REPORTERS = {  # imported on first use: Jinja2 and XML are not needed to start a run
    "HtmlReporter": "html",
    "JsonReporter": "json_report",
    "JunitReporter": "junit",
    "NdjsonReporter": "ndjson",
    "TapReporter": "tap",
}


def __getattr__(name: str) -> Any:
    if name in _FILE_REPORTERS:
        return getattr(importlib.import_module(f"reqflo.report.{_FILE_REPORTERS[name]}"), name)
    raise AttributeError(f"module 'reqflo.report' has no attribute {name!r}")


__all__ = [
    "FORMATS",
    "ConsoleReporter",
    "Fanout",
    "HtmlReporter",
    "JsonReporter",
    "JunitReporter",
    "NdjsonReporter",
    "OutputSpec",
    "TapReporter",
    "open_reporter",
    "open_reporters",
    "parse_output_spec",
]
