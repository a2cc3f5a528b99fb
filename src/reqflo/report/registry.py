"""Choosing reporters from `--output FORMAT[:PATH]` and feeding several at once.

Owns the format table, `parse_output_spec`/`open_reporter` (one `--output` value) and
`open_reporters` (all of them, refusing two reports on stdout or on the same file),
plus `Fanout`, which forwards each event to every reporter and closes them all even
when one fails.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from rich.console import Console
from rich.text import Text

from reqflo.diagnostics import did_you_mean
from reqflo.report.sink import STDOUT
from reqflo.runner.events import AnyEvent, Reporter


def _lazy(module: str, name: str) -> Callable[[str | None], Reporter]:
    """A factory that imports its reporter only when that format is asked for (start-up)."""

    def make(path: str | None) -> Reporter:
        reporter_class = getattr(importlib.import_module(f"reqflo.report.{module}"), name)
        return cast(Reporter, reporter_class(path))

    return make


@dataclass(frozen=True)
class ReportFormat:
    name: str
    factory: Callable[[str | None], Reporter]
    default_path: str | None  # None: standard output when no path is given
    description: str


FORMATS: dict[str, ReportFormat] = {
    f.name: f
    for f in (
        ReportFormat(
            "json",
            _lazy("json_report", "JsonReporter"),
            None,
            "one JSON document with every instance",
        ),
        ReportFormat(
            "junit", _lazy("junit", "JunitReporter"), "reqflo-junit.xml", "JUnit XML for CI servers"
        ),
        ReportFormat(
            "html",
            _lazy("html", "HtmlReporter"),
            "reqflo-report.html",
            "a self-contained HTML page",
        ),
        ReportFormat("tap", _lazy("tap", "TapReporter"), None, "Test Anything Protocol version 14"),
        ReportFormat(
            "ndjson", _lazy("ndjson", "NdjsonReporter"), None, "every event as one JSON line"
        ),
    )
}


@dataclass(frozen=True)
class OutputSpec:
    format: str
    path: str | None  # None means standard output

    @property
    def label(self) -> str:
        return f"{self.format} report → {self.path or 'stdout'}"


def parse_output_spec(spec: str) -> OutputSpec:
    """`json`, `json:-`, `json:out/report.json`, `html` (default file name)."""
    name, _, path = spec.strip().partition(":")
    name = name.strip().lower()
    known = FORMATS.get(name)
    if known is None:
        valid = ", ".join(FORMATS)
        hint = did_you_mean(name, FORMATS)
        shown = name or "(empty)"
        message = f"unknown report format '{shown}' in --output {spec!r}; valid formats: {valid}"
        raise ValueError(f"{message} ({hint})" if hint else message)
    path = path.strip()
    if path in ("", STDOUT):
        if known.default_path is not None and path == "":
            return OutputSpec(name, known.default_path)
        return OutputSpec(name, None)
    return OutputSpec(name, path)


def open_reporter(spec: str, console: Console | None = None) -> Reporter:
    """The reporter for one `--output` value; `console` gets a note when a file is written."""
    return _open(parse_output_spec(spec), console)


def open_reporters(specs: Iterable[str], console: Console | None = None) -> Fanout:
    """Every `--output` value at once; two reports cannot share stdout or a file."""
    parsed = [parse_output_spec(spec) for spec in specs]
    seen: dict[str, OutputSpec] = {}
    for output in parsed:
        key = "stdout" if output.path is None else str(Path(output.path).resolve())
        if key in seen:
            where = "standard output" if output.path is None else f"'{output.path}'"
            raise ValueError(
                f"the {seen[key].format} and {output.format} reports would both write to "
                f"{where}; give one of them a file path (FORMAT:PATH)"
            )
        seen[key] = output
    return Fanout([_open(output, console) for output in parsed])


def _open(output: OutputSpec, console: Console | None) -> Reporter:
    reporter = FORMATS[output.format].factory(output.path)
    if output.path is None or console is None:
        return reporter
    return _Announced(reporter, console, output.label)


class _Announced:
    """Tells the person where a report file went once it is complete."""

    def __init__(self, inner: Reporter, console: Console, label: str) -> None:
        self.inner = inner
        self.console = console
        self.label = label

    def handle(self, event: AnyEvent) -> None:
        self.inner.handle(event)

    @property
    def event_kinds(self) -> frozenset[str] | None:
        return getattr(self.inner, "event_kinds", None)

    def close(self) -> None:
        self.inner.close()
        self.console.print(Text(self.label, style="dim"), soft_wrap=True)


class Fanout:
    """Forwards every event to each reporter; one failing reporter does not starve the rest."""

    def __init__(self, reporters: Sequence[Reporter]) -> None:
        self.reporters = list(reporters)

    def handle(self, event: AnyEvent) -> None:
        errors: list[Exception] = []
        for reporter in self.reporters:  # _each without a closure per event (hot path)
            try:
                reporter.handle(event)
            except Exception as exc:  # re-raised below, after every reporter had its turn
                errors.append(exc)
        if errors:
            _raise(errors)

    @property
    def event_kinds(self) -> frozenset[str] | None:
        """The event kinds every reporter together wants (None: all of them)."""
        wanted: set[str] = set()
        for reporter in self.reporters:
            kinds = getattr(reporter, "event_kinds", None)
            if kinds is None:
                return None
            wanted |= kinds
        return frozenset(wanted)

    def close(self) -> None:
        self._each(lambda reporter: reporter.close())

    def _each(self, action: Callable[[Reporter], None]) -> None:
        errors: list[Exception] = []
        for reporter in self.reporters:
            try:
                action(reporter)
            except Exception as exc:  # re-raised below, after every reporter had its turn
                errors.append(exc)
        if errors:
            _raise(errors)


def _raise(errors: list[Exception]) -> None:
    if len(errors) == 1:
        raise errors[0]
    raise ExceptionGroup("several reporters failed", errors)
