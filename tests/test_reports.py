"""File reporters (json, junit, html, tap, ndjson) and the --output registry, on real outputs."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import get_args

import pytest

from report_samples import (
    ARTIFACT,
    STARTED,
    exchange,
    sample_data_run,
    sample_single_run,
    summary,
)
from reqflo.report import (
    Fanout,
    HtmlReporter,
    JsonReporter,
    JunitReporter,
    NdjsonReporter,
    TapReporter,
    open_reporter,
    open_reporters,
    parse_output_spec,
)
from reqflo.runner import events as ev
from reqflo.runner.events import AnyEvent, Reporter
from reqflo.runner.results import (
    Attempt,
    InstanceResult,
    StepError,
    StepResult,
)


def feed(reporter: Reporter, events: Iterable[AnyEvent]) -> None:
    for event in events:
        reporter.handle(event)
    reporter.close()


def setup_error_run() -> list[AnyEvent]:
    """An instance that stops before any request: the secret is missing."""
    error = StepError(code="missing-secret", message="secret ORDERS_API_TOKEN is not set (staging)")
    instance = InstanceResult(index=0, key="c-1", status="error", error=error)
    return [
        ev.RunStarted(run_id="r", artifact_id=ARTIFACT, journey="Orders", total=1, started_at=0),
        ev.InstanceStarted(instance=0, key="c-1"),
        ev.InstanceFinished(result=instance),
        ev.RunFinished(summary=summary("r", 1, 0, 0, 1, 3.0)),
    ]


def hostile_run() -> list[AnyEvent]:
    """Names, keys and bodies full of markup and control characters."""
    request, response = exchange("GET", "/x?q=<b>", 500, {"html": "<script>alert(1)</script>"}, 5)
    response = response.model_copy(update={"body": 'bad \x00\x1b[31m "json" <tag> & more'})
    attempt = Attempt(number=1, request=request, response=response)
    step = StepResult(
        index=0,
        id="s1",
        name="<img src=x onerror=alert(1)> & step",
        status="error",
        attempts=(attempt,),
        error=StepError(code="invalid-response", message="bad \x07 byte <here>"),
    )
    key = "<script>alert('key')</script>"
    instance = InstanceResult(index=0, key=key, status="error", steps=(step,))
    return [
        ev.RunStarted(run_id="r", artifact_id=ARTIFACT, journey="J <&>", total=1, started_at=0),
        ev.StepFinished(instance=0, result=step),
        ev.InstanceFinished(result=instance),
        ev.RunFinished(summary=summary("r", 1, 0, 0, 1, 5.0)),
    ]


# ---------------------------------------------------------------- json


def test_json_report_holds_every_instance_of_a_data_run(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.json"
    feed(JsonReporter(path), sample_data_run(500))

    document = json.loads(path.read_text("utf-8"))
    assert document["format"] == "reqflo.report"
    assert document["run"]["total"] == 500
    assert [i["index"] for i in document["instances"]] == list(range(500))
    assert document["summary"] == {**document["summary"], "passed": 450, "failed": 40}
    assert document["complete"] is True
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temp file left


def test_json_report_keeps_step_evidence_and_assertions(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    feed(JsonReporter(path), sample_single_run())

    instance = json.loads(path.read_text("utf-8"))["instances"][0]
    verify = instance["steps"][2]
    assert len(verify["attempts"]) == 3
    failed = verify["attempts"][-1]["assertions"][0]
    assert (failed["expected"], failed["actual"]) == ("ord-981", ["ord-975", "ord-977"])
    assert failed["source_line"] == 36


def test_json_file_appears_only_when_complete(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    reporter = JsonReporter(path)
    for event in sample_single_run()[:-1]:
        reporter.handle(event)
    assert not path.exists()
    reporter.close()
    document = json.loads(path.read_text("utf-8"))
    assert document["summary"] is None
    assert document["complete"] is False
    assert len(document["instances"]) == 1


def test_json_report_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    feed(open_reporter("json"), setup_error_run())
    document = json.loads(capsys.readouterr().out)
    assert document["instances"][0]["error"]["code"] == "missing-secret"


# ---------------------------------------------------------------- junit


def test_junit_single_run_counts_failures_errors_and_skips(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    feed(JunitReporter(path), sample_single_run())

    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    counts = {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": "5", "failures": "1", "errors": "1", "skipped": "1"}
    assert suite.get("name") == "Create and verify order"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    failure = cases["Verify order is listed"].find("failure")
    assert failure is not None and failure.text is not None
    assert '"ord-981"' in failure.text and "line 36" in failure.text
    error = cases["Cancel order"].find("error")
    assert error is not None and error.get("type") == "timeout"
    out = cases["Verify order is listed"].findtext("system-out") or ""
    assert "GET https://orders.example.test/orders?customer_id=c-42" in out
    assert "3 attempts" in out
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["environment"] == "staging"


def test_junit_data_run_has_a_case_per_step_of_every_instance(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    feed(JunitReporter(path), sample_data_run(500))

    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1000", "40", "10")
    classnames = {case.get("classname") for case in suite.iter("testcase")}
    assert "Create and verify order[customer-00009]" in classnames
    assert len(classnames) == 500


def test_junit_reports_an_instance_that_failed_before_its_steps(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    feed(JunitReporter(path), setup_error_run())

    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1"
    error = suite.find("testcase/error")
    assert error is not None and error.get("type") == "missing-secret"


def test_junit_survives_markup_and_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    feed(JunitReporter(path), hostile_run())

    case = ET.parse(path).getroot().find("testsuite/testcase")
    assert case is not None
    assert case.get("name") == "<img src=x onerror=alert(1)> & step"
    assert '"json" <tag> & more' in (case.findtext("system-out") or "")


# ---------------------------------------------------------------- html


def assert_self_contained(page: str) -> None:
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page


def test_html_shows_failed_assertion_expected_actual_and_source(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    feed(HtmlReporter(path), sample_single_run())

    page = path.read_text("utf-8")
    assert_self_contained(page)
    assert page.startswith("<!DOCTYPE html>")
    assert '<code class="expected">&#34;ord-981&#34;</code>' in page
    assert '<code class="actual">[&#34;ord-975&#34;, &#34;ord-977&#34;]</code>' in page
    assert "line 36" in page
    assert "<details" in page and "3 attempts" in page
    assert "✘</span> failed" in page and "!</span> error" in page and "-</span> skipped" in page
    assert "timeout" in page and "no response within 5s" in page
    assert "&#34;expires_in&#34;: 3600" in page  # JSON bodies are pretty-printed


def test_html_escapes_everything_it_did_not_write(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    feed(HtmlReporter(path), hostile_run())

    page = path.read_text("utf-8")
    assert_self_contained(page)
    assert "&lt;script&gt;alert(&#39;key&#39;)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "<tag>" not in page and "&lt;tag&gt;" in page


def test_html_keeps_failures_and_first_passes_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    feed(HtmlReporter(path, max_passed_evidence=20, max_problem_evidence=30), sample_data_run(500))

    page = path.read_text("utf-8")
    assert_self_contained(page)
    assert page.count('<section class="instance ') == 50
    assert "Not every instance is shown in full" in page
    assert "the first 30 of 50 failing instances" in page
    assert "the first 20 of 450 passing ones" in page
    assert '<span class="count">500</span>' in page


def test_html_says_nothing_is_left_out_when_all_is_shown(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    feed(HtmlReporter(path), sample_data_run(30))

    page = path.read_text("utf-8")
    assert page.count('<section class="instance ') == 30
    assert "Not every instance" not in page
    assert 'href="#instance-9"' in page


# ---------------------------------------------------------------- tap


def test_tap_single_run_streams_steps_and_ends_with_the_plan(tmp_path: Path) -> None:
    path = tmp_path / "out.tap"
    feed(TapReporter(path), sample_single_run())

    lines = path.read_text("utf-8").splitlines()
    assert lines[0] == "TAP version 14"
    points = [line for line in lines if re.match(r"(not )?ok \d+ ", line)]
    assert points == [
        "ok 1 - Log in (login)",
        "ok 2 - Create order (create_order)",
        "not ok 3 - Verify order is listed (verify_order)",
        "not ok 4 - Cancel order (cancel_order)",
        "ok 5 - Notify (notify) # SKIP when: steps.cancel_order.status == 204 was false",
    ]
    assert "1..5" in lines
    diagnostic = "\n".join(lines)
    assert '      expected: "ord-981"' in diagnostic
    assert "      line: 36" in diagnostic
    assert '  code: "timeout"' in diagnostic


def test_tap_data_run_has_one_point_per_instance_with_step_subtests(tmp_path: Path) -> None:
    path = tmp_path / "out.tap"
    feed(TapReporter(path), sample_data_run(500))

    lines = path.read_text("utf-8").splitlines()
    top = [line for line in lines if re.match(r"(not )?ok \d+ - ", line)]
    assert len(top) == 500
    assert sum(line.startswith("not ok") for line in top) == 50
    assert lines.count("1..500") == 1
    assert "    # Subtest: customer-00009" in lines
    assert "    not ok 2 - Create order (create_order)" in lines


def test_tap_marks_an_unfinished_run_with_bail_out(tmp_path: Path) -> None:
    path = tmp_path / "out.tap"
    feed(TapReporter(path), sample_single_run()[:3])
    assert path.read_text("utf-8").splitlines()[-1].startswith("Bail out!")


# ---------------------------------------------------------------- ndjson


def test_ndjson_is_exactly_the_event_models_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    events = sample_single_run()
    feed(NdjsonReporter(path), events)

    lines = path.read_text("utf-8").splitlines()
    assert lines == [event.model_dump_json() for event in events]
    by_kind = {cls.model_fields["kind"].default: cls for cls in get_args(AnyEvent)}
    parsed = [by_kind[json.loads(line)["kind"]].model_validate_json(line) for line in lines]
    assert parsed == events


# ---------------------------------------------------------------- registry


def test_output_specs_parse_format_and_path() -> None:
    assert parse_output_spec("json").path is None
    assert parse_output_spec("tap:-").path is None
    assert parse_output_spec("NDJSON:out/events.ndjson").path == "out/events.ndjson"
    assert parse_output_spec("html").path == "reqflo-report.html"
    assert parse_output_spec("junit").path == "reqflo-junit.xml"
    assert parse_output_spec("html:-").path is None
    assert parse_output_spec("json:C:/reports/r.json").path == "C:/reports/r.json"


def test_unknown_format_lists_valid_formats_and_suggests_one() -> None:
    with pytest.raises(ValueError, match="did you mean 'junit'") as info:
        open_reporter("junti:out.xml")
    assert "json, junit, html, tap, ndjson" in str(info.value)
    with pytest.raises(ValueError, match="unknown report format '\\(empty\\)'"):
        parse_output_spec(":out.xml")


def test_two_reports_cannot_share_stdout_or_a_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="standard output"):
        open_reporters(["json", "tap:-"])
    target = str(tmp_path / "same.txt")
    with pytest.raises(ValueError, match=r"same\.txt"):
        open_reporters([f"json:{target}", f"ndjson:{target}"])


def test_open_reporters_writes_every_requested_file(tmp_path: Path) -> None:
    fanout = open_reporters([f"json:{tmp_path / 'r.json'}", f"junit:{tmp_path / 'r.xml'}"])
    feed(fanout, sample_single_run())
    assert json.loads((tmp_path / "r.json").read_text("utf-8"))["complete"] is True
    assert ET.parse(tmp_path / "r.xml").getroot().tag == "testsuites"


class Exploding:
    def __init__(self) -> None:
        self.closed = False

    def handle(self, event: AnyEvent) -> None:
        raise RuntimeError("disk full")

    def close(self) -> None:
        self.closed = True
        raise OSError("cannot close")


def test_fanout_feeds_and_closes_every_reporter_even_when_one_fails(tmp_path: Path) -> None:
    broken = Exploding()
    fanout = Fanout([broken, JsonReporter(tmp_path / "r.json")])
    events = sample_single_run()
    with pytest.raises(RuntimeError, match="disk full"):
        fanout.handle(events[0])
    for event in events[1:]:
        with pytest.raises(RuntimeError):
            fanout.handle(event)
    with pytest.raises(OSError, match="cannot close"):
        fanout.close()
    assert broken.closed
    assert json.loads((tmp_path / "r.json").read_text("utf-8"))["complete"] is True


def test_started_at_is_rendered_in_utc(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    feed(HtmlReporter(path), sample_single_run())
    assert STARTED == 1_764_064_800.0
    assert "2025-11-25 10:00:00 UTC" in path.read_text("utf-8")


def test_html_lists_failing_instances_first_and_folds_passing_ones(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    feed(HtmlReporter(path), sample_data_run(30))

    page = path.read_text("utf-8")
    assert page.index('id="instance-9"') < page.index('id="instance-0"')
    assert page.index('href="#instance-29"') < page.index('href="#instance-0"')
    failing = page[page.index('id="instance-9"') :]
    assert failing.split(">", 2)[1].strip().startswith('<details class="instance-body" open')
    passing = page[page.index('id="instance-0"') :]
    assert passing.split(">", 2)[1].strip() == '<details class="instance-body"'


def test_a_data_run_console_wants_finished_instances_only_and_fanout_the_union(
    tmp_path: Path,
) -> None:
    import io

    from rich.console import Console

    from reqflo.report.console import ConsoleReporter
    from reqflo.runner.engine import unwanted_kinds

    single, data = (ConsoleReporter(Console(file=io.StringIO())) for _ in range(2))
    single.handle(sample_single_run()[0])
    data.handle(next(iter(sample_data_run(5))))
    assert single.event_kinds is None  # a single run prints every step
    assert data.event_kinds == {"instance_finished"}
    assert unwanted_kinds(data) == {"instance_started", "step_started", "step_finished"}
    assert unwanted_kinds(Fanout([data, JsonReporter(tmp_path / "r.json")])) == set()
    assert unwanted_kinds(Fanout([data, single])) == set()
    assert Fanout([data, data]).event_kinds == {"instance_finished"}


@pytest.mark.parametrize("kind", ["directory", "unwritable"])
def test_a_report_path_that_cannot_be_written_is_refused_before_the_run(
    tmp_path: Path, kind: str
) -> None:
    """Found by probing the CLI: `--output json:some/dir` ran the whole journey and then
    crashed with IsADirectoryError; `--output html:/proc/x` with FileNotFoundError."""
    target = tmp_path if kind == "directory" else Path("/proc/reqflo-report.html")
    problem = "it is a directory" if kind == "directory" else "No such file or directory"
    with pytest.raises(ValueError, match=f"cannot write a report to '{target}': {problem}"):
        open_reporters([f"json:{target}"])
