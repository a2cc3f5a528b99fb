"""The `tap` reporter: Test Anything Protocol version 14.

Owns the TAP layout. A single-instance run streams one test point per step as steps
finish; a data run has one test point per instance with its steps as a subtest. The
plan (`1..N`) comes last, as TAP 14 allows, so streamed runs of unknown size stay
valid; a run that never finishes ends with `Bail out!`. Failures carry a YAML
diagnostic block with expected, actual and the journey's source line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reqflo.report.formatting import (
    assertion_target,
    failed_assertions,
    instance_title,
    is_problem,
    request_line,
    response_line,
    step_error,
    step_title,
)
from reqflo.report.sink import Sink
from reqflo.runner.events import (
    AnyEvent,
    InstanceFinished,
    RunFinished,
    RunStarted,
    StepFinished,
)
from reqflo.runner.results import InstanceResult, StepResult

INDENT = "    "


class TapReporter:
    def __init__(self, path: str | Path | None = None) -> None:
        self.sink = Sink(path)
        self._single = False
        self._count = 0
        self._finished = False
        self.sink.write("TAP version 14\n")

    def handle(self, event: AnyEvent) -> None:
        if isinstance(event, RunStarted):
            self._single = event.total == 1
            env = f" · environment {event.environment}" if event.environment else ""
            self._emit([f"# {_one_line(event.journey)}{env} · run {event.run_id}"])
        elif isinstance(event, StepFinished) and self._single:
            self._count += 1
            self._emit(step_point(self._count, event.result, ""))
        elif isinstance(event, InstanceFinished):
            self._on_instance(event.result)
        elif isinstance(event, RunFinished):
            self._finished = True
            summary = event.summary
            self._emit(
                [
                    f"1..{self._count}",
                    f"# {summary.status}: {summary.passed} passed, {summary.failed} failed, "
                    f"{summary.errored} error of {summary.total}",
                ]
            )

    def close(self) -> None:
        if self.sink.closed:
            return
        if not self._finished:
            self._emit(["Bail out! The run stopped before it finished."])
        self.sink.commit()

    def _on_instance(self, instance: InstanceResult) -> None:
        if self._single:
            if instance.error is not None and not instance.steps:
                self._count += 1
                self._emit(setup_point(self._count, instance, ""))
            return
        self._count += 1
        self._emit(instance_point(self._count, instance))

    def _emit(self, lines: list[str]) -> None:
        self.sink.write("".join(line + "\n" for line in lines))
        if self.sink.is_stdout:
            self.sink.flush()


def instance_point(number: int, instance: InstanceResult) -> list[str]:
    """A subtest of the instance's steps, closed by the instance's own test point."""
    title = _escape(instance_title(instance))
    lines = [f"{INDENT}# Subtest: {title}", f"{INDENT}1..{max(1, len(instance.steps))}"]
    for number_in, step in enumerate(instance.steps, start=1):
        lines.extend(step_point(number_in, step, INDENT))
    if not instance.steps:
        lines.extend(setup_point(1, instance, INDENT))
    ok = "not ok" if is_problem(instance.status) else "ok"
    lines.append(f"{ok} {number} - {title}")
    if is_problem(instance.status):
        lines.extend(_yaml_block({"status": instance.status, "inputs": instance.inputs}, ""))
    return lines


def step_point(number: int, step: StepResult, indent: str) -> list[str]:
    title = _escape(step_title(step))
    if step.status == "skipped":
        reason = _escape(step.skipped_reason or "condition not met")
        return [f"{indent}ok {number} - {title} # SKIP {reason}"]
    if not is_problem(step.status):
        return [f"{indent}ok {number} - {title}"]
    return [f"{indent}not ok {number} - {title}", *_yaml_block(step_diagnostic(step), indent)]


def setup_point(number: int, instance: InstanceResult, indent: str) -> list[str]:
    """An instance that failed before its first step (missing secret or input)."""
    line = f"{indent}not ok {number} - setup"
    error = instance.error
    details = {"severity": "error", "code": error.code, "message": error.message} if error else {}
    return [line, *_yaml_block(details, indent)]


def step_diagnostic(step: StepResult) -> dict[str, Any]:
    details: dict[str, Any] = {"severity": "error" if step.status != "failed" else "fail"}
    error = step_error(step)
    if error is not None:
        details.update(code=error.code, message=error.message)
    failures = failed_assertions(step)
    if failures:
        details["message"] = details.get("message") or f"{len(failures)} assertion(s) failed"
        details["assertions"] = [
            {
                "target": assertion_target(a),
                "operator": a.operator,
                "expected": a.expected,
                "actual": a.actual,
                "line": a.source_line,
                "source": (a.source_text or "").strip() or None,
            }
            for a in failures
        ]
    details["request"] = request_line(step.last)
    details["response"] = response_line(step.last)
    details["attempts"] = len(step.attempts)
    details["duration_ms"] = round(step.duration_ms, 1)
    return {key: value for key, value in details.items() if value is not None}


def _yaml_block(details: dict[str, Any], indent: str) -> list[str]:
    pad = indent + "  "
    lines = [f"{pad}---"]
    for key, value in details.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{pad}{key}:")
            for item in value:
                entries = [f"{k}: {_scalar(v)}" for k, v in item.items() if v is not None]
                lines.append(f"{pad}  - {entries[0]}")
                lines.extend(f"{pad}    {entry}" for entry in entries[1:])
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    lines.append(f"{pad}...")
    return lines


def _scalar(value: Any) -> str:
    """JSON is valid YAML flow syntax, and keeps every value on one safe line."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _escape(text: str) -> str:
    """Descriptions are one line; `#` would start a directive and `\\` escapes it."""
    return _one_line(text).replace("\\", "\\\\").replace("#", "\\#")
