"""The `junit` reporter: JUnit XML that Jenkins, GitLab, GitHub and Azure parse.

Owns the XML layout: `<testsuites>` holding one `<testsuite>` per run (named after the
journey), one `<testcase>` per step of every instance (classname = journey, plus the
instance key in data runs), `<failure>` for failed assertions, `<error>` for step
errors, `<skipped>` for skipped steps, and the request/response evidence in
`<system-out>`. Test cases stream to a scratch file as instances finish; the suite's
counts are only known at the end, so `close` writes the header and splices them in.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from reqflo.report.formatting import (
    assertion_source,
    assertion_summary,
    error_summary,
    evidence_text,
    failed_assertions,
    format_duration,
    instance_title,
    step_error,
)
from reqflo.report.sink import Sink, spool
from reqflo.runner.events import AnyEvent, InstanceFinished, RunFinished, RunStarted
from reqflo.runner.results import AssertionResult, InstanceResult, StepResult

# XML 1.0 forbids most control characters, even escaped; responses may contain them.
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


class JunitReporter:
    def __init__(self, path: str | Path | None = "reqflo-junit.xml") -> None:
        self.sink = Sink(path)
        self._cases = spool()
        self._counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        self._time_s: float | None = None
        self._case_time_s = 0.0
        self._run: RunStarted | None = None
        self._suite_name = "reqflo"
        self._single = True

    def handle(self, event: AnyEvent) -> None:
        if isinstance(event, RunStarted):
            self._run = event
            self._suite_name = event.journey
            self._single = event.total == 1
        elif isinstance(event, InstanceFinished):
            for case in self._testcases(event.result):
                self._cases.write(ET.tostring(case, encoding="unicode") + "\n")
        elif isinstance(event, RunFinished):
            self._time_s = event.summary.duration_ms / 1000

    def close(self) -> None:
        if self.sink.closed:
            return
        try:
            self.sink.write('<?xml version="1.0" encoding="UTF-8"?>\n')
            self.sink.write(_open_tag(self._suites_element()) + "\n")
            self.sink.write(_open_tag(self._suite_element()) + "\n")
            self.sink.write(ET.tostring(self._properties(), encoding="unicode") + "\n")
            self.sink.copy_from(self._cases)
            self.sink.write("</testsuite>\n</testsuites>\n")
            self.sink.commit()
        finally:
            self._cases.close()
            self.sink.discard()

    def _testcases(self, instance: InstanceResult) -> list[ET.Element]:
        classname = instance.key and not self._single and f"{self._suite_name}[{instance.key}]"
        classname = xml_text(classname or self._suite_name)
        cases = [_step_case(step, classname) for step in instance.steps]
        if not instance.steps or (instance.error is not None and not _has_error(instance)):
            cases.append(_instance_case(instance, classname))
        for case in cases:
            self._count(case)
        return cases

    def _count(self, case: ET.Element) -> None:
        self._counts["tests"] += 1
        for tag, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            if case.find(tag) is not None:
                self._counts[key] += 1
        self._case_time_s += float(case.get("time", "0"))

    @property
    def _seconds(self) -> str:
        return f"{self._time_s if self._time_s is not None else self._case_time_s:.3f}"

    def _suites_element(self) -> ET.Element:
        attrs = {"name": xml_text(self._suite_name), "time": self._seconds}
        attrs.update({key: str(value) for key, value in self._counts.items()})
        return ET.Element("testsuites", attrs)

    def _suite_element(self) -> ET.Element:
        started = self._run.started_at if self._run is not None else time.time()
        stamp = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        attrs = {
            "name": xml_text(self._suite_name),
            "id": "0",
            "timestamp": stamp,
            "hostname": "reqflo",
            "time": self._seconds,
        }
        attrs.update({key: str(value) for key, value in self._counts.items()})
        return ET.Element("testsuite", attrs)

    def _properties(self) -> ET.Element:
        properties = ET.Element("properties")
        run = self._run
        values = {
            "run_id": run.run_id if run else None,
            "artifact_id": run.artifact_id if run else None,
            "environment": run.environment if run else None,
        }
        for name, value in values.items():
            if value is not None:
                ET.SubElement(properties, "property", name=name, value=xml_text(value))
        return properties


def _open_tag(element: ET.Element) -> str:
    """`<tag a="1">` from an empty element, with the attributes escaped by ElementTree."""
    text = ET.tostring(element, encoding="unicode")
    return text[: -len(" />")] + ">"


def _has_error(instance: InstanceResult) -> bool:
    return any(step.status in ("error", "indeterminate") for step in instance.steps)


def _step_case(step: StepResult, classname: str) -> ET.Element:
    case = ET.Element(
        "testcase",
        name=xml_text(step.name or step.id),
        classname=classname,
        time=f"{step.duration_ms / 1000:.3f}",
    )
    if step.status == "skipped":
        ET.SubElement(case, "skipped", message=xml_text(step.skipped_reason or "skipped"))
        return case
    error = step_error(step)
    failures = failed_assertions(step)
    if step.status in ("error", "indeterminate"):
        message = error_summary(error) if error else step.status
        node = ET.SubElement(case, "error", message=xml_text(message))
        node.set("type", error.code if error else step.status)
        node.text = xml_text(message)
    elif step.status == "failed":
        lines = [_failure_line(a) for a in failures] or [error_summary(error) if error else ""]
        node = ET.SubElement(case, "failure", message=xml_text(lines[0]), type="assertion")
        node.text = xml_text("\n".join(lines))
    _add_evidence(case, step)
    return case


def _failure_line(assertion: AssertionResult) -> str:
    source = assertion_source(assertion)
    summary = assertion_summary(assertion)
    return f"{summary}\n    at {source}" if source else summary


def _add_evidence(case: ET.Element, step: StepResult) -> None:
    lines = []
    if len(step.attempts) > 1:
        lines.append(f"{len(step.attempts)} attempts (retried)")
    if step.status in ("passed", "skipped"):
        last = step.last
        if last is not None and last.request is not None:
            status = f" -> {last.response.status}" if last.response is not None else ""
            lines.append(f"{last.request.method} {last.request.url}{status}")
    else:
        lines.append(evidence_text(step.last))
    lines.append(f"duration {format_duration(step.duration_ms)}")
    out = ET.SubElement(case, "system-out")
    out.text = xml_text("\n".join(line for line in lines if line))


def _instance_case(instance: InstanceResult, classname: str) -> ET.Element:
    """A test case for an instance-level problem no step carries (setup errors)."""
    case = ET.Element(
        "testcase",
        name=xml_text(f"{instance_title(instance)} setup"),
        classname=classname,
        time=f"{instance.duration_ms / 1000:.3f}",
    )
    error = instance.error
    if error is not None:
        node = ET.SubElement(case, "error", message=xml_text(error_summary(error)), type=error.code)
        node.text = xml_text(error_summary(error))
    elif instance.status != "passed":
        ET.SubElement(case, "error", message=instance.status, type=instance.status)
    return case
