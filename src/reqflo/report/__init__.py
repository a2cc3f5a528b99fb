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

from reqflo.report.console import ConsoleReporter
from reqflo.report.html import HtmlReporter
from reqflo.report.json_report import JsonReporter
from reqflo.report.junit import JunitReporter
from reqflo.report.ndjson import NdjsonReporter
from reqflo.report.registry import (
    FORMATS,
    Fanout,
    OutputSpec,
    open_reporter,
    open_reporters,
    parse_output_spec,
)
from reqflo.report.tap import TapReporter

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
