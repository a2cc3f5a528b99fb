"""The `html` reporter: one self-contained page a person wants to open after a run.

Owns the HTML report: inline CSS, no scripts, no external assets; request/response
evidence in `<details>`, JSON bodies pretty-printed, every status shown as icon + word.
Each instance section is rendered as its `InstanceFinished` arrives and streamed to a
scratch file, so memory stays flat. Huge data runs keep full evidence only for the
first `max_problem_evidence` failing instances and the first `max_passed_evidence`
passing ones; the page says how many were left out and where to find them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from reqflo import __version__
from reqflo.report import formatting as fmt
from reqflo.report.sink import Sink, spool
from reqflo.runner.events import AnyEvent, InstanceFinished, RunFinished, RunStarted
from reqflo.runner.results import InstanceResult, RunSummary

_MARKER = "<!-- reqflo:instances -->"


@dataclass(frozen=True)
class IndexRow:
    """A line of the instance table: enough to find an instance, never its evidence."""

    index: int
    title: str
    status: str
    duration_ms: float
    problem: str


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    error: int = 0
    shown_passed: int = 0
    shown_problems: int = 0
    omitted_passed: int = 0
    omitted_problems: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.error

    def add(self, status: str) -> None:
        if status == "passed":
            self.passed += 1
        elif status == "failed":
            self.failed += 1
        else:
            self.error += 1


def build_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reqflo.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        duration=fmt.format_duration,
        num=lambda n: f"{n:,}",
        value=fmt.format_value,
        expected=fmt.expected_text,
        symbol=fmt.status_symbol,
        target=fmt.assertion_target,
        pretty=fmt.pretty_body,
        step_error=fmt.step_error,
        step_title=fmt.step_title,
    )
    env.tests["problem"] = fmt.is_problem
    return env


class HtmlReporter:
    def __init__(
        self,
        path: str | Path | None = "reqflo-report.html",
        max_passed_evidence: int = 200,
        max_problem_evidence: int = 1000,
    ) -> None:
        self.sink = Sink(path)
        self.max_passed_evidence = max_passed_evidence
        self.max_problem_evidence = max_problem_evidence
        self._env = build_environment()
        self._instance_template = self._env.get_template("instance.html.j2")
        self._problem_sections = spool()  # failing instances come first on the page
        self._passed_sections = spool()
        self._rows: list[IndexRow] = []
        self._tally = Tally()
        self._run: RunStarted | None = None
        self._summary: RunSummary | None = None
        self._single_instance: InstanceResult | None = None

    def handle(self, event: AnyEvent) -> None:
        if isinstance(event, RunStarted):
            self._run = event
        elif isinstance(event, InstanceFinished):
            self._on_instance(event.result)
        elif isinstance(event, RunFinished):
            self._summary = event.summary

    def close(self) -> None:
        if self.sink.closed:
            return
        try:
            page = self._env.get_template("page.html.j2").render(self._page_context())
            head, tail = page.split(_MARKER, 1)
            self.sink.write(head)
            self.sink.copy_from(self._problem_sections)
            self.sink.copy_from(self._passed_sections)
            self.sink.write(tail)
            self.sink.commit()
        finally:
            self._problem_sections.close()
            self._passed_sections.close()
            self.sink.discard()

    def _on_instance(self, instance: InstanceResult) -> None:
        self._tally.add(_bucket(instance.status))
        if not self._keep_evidence(instance):
            return
        if self._single_instance is None and not self._rows:
            self._single_instance = instance
        self._rows.append(
            IndexRow(
                index=instance.index,
                title=fmt.instance_title(instance),
                status=instance.status,
                duration_ms=instance.duration_ms,
                problem=fmt.shorten(fmt.first_problem(instance), 200),
            )
        )
        problem = fmt.is_problem(instance.status)
        single = self._run is not None and self._run.total == 1
        html = self._instance_template.render(instance=instance, open=problem or single)
        (self._problem_sections if problem else self._passed_sections).write(html)

    def _keep_evidence(self, instance: InstanceResult) -> bool:
        tally = self._tally
        if fmt.is_problem(instance.status):
            if tally.shown_problems < self.max_problem_evidence:
                tally.shown_problems += 1
                return True
            tally.omitted_problems += 1
            return False
        if tally.shown_passed < self.max_passed_evidence:
            tally.shown_passed += 1
            return True
        tally.omitted_passed += 1
        return False

    def _page_context(self) -> dict[str, Any]:
        run, summary, tally = self._run, self._summary, self._tally
        journey = summary.journey if summary else run.journey if run else "Reqflo run"
        started = summary.started_at if summary else run.started_at if run else time.time()
        status = summary.status if summary else "indeterminate"
        single = run is not None and run.total == 1 and tally.total <= 1
        return {
            "journey": journey,
            "status": status,
            "complete": summary is not None,
            "environment": (summary.environment if summary else run.environment if run else None),
            "run_id": summary.run_id if summary else run.run_id if run else "",
            "artifact_id": summary.artifact_id if summary else run.artifact_id if run else "",
            "started": datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "duration_ms": summary.duration_ms if summary else None,
            "tally": tally,
            "single": single,
            "steps": _step_counts(self._single_instance) if single else None,
            "rows": sorted(self._rows, key=lambda row: not fmt.is_problem(row.status)),
            "css": Markup(_stylesheet()),
            "marker": Markup(_MARKER),
            "version": __version__,
            "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        }


def _bucket(status: str) -> str:
    return status if status in ("passed", "failed") else "error"


def _step_counts(instance: InstanceResult | None) -> dict[str, int]:
    return fmt.step_counts(instance) if instance is not None else {}


def _stylesheet() -> str:
    return (resources.files("reqflo.report") / "templates" / "report.css").read_text("utf-8")
