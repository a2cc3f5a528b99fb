"""The console reporter, rendered to a recording Rich console as CI logs would see it."""

from __future__ import annotations

import io
from collections.abc import Iterable

from rich.console import Console

from report_samples import ARTIFACT, sample_data_run, sample_single_run, summary
from reqflo.report import ConsoleReporter
from reqflo.runner import events as ev
from reqflo.runner.events import AnyEvent
from reqflo.runner.results import InstanceResult, StepError, StepResult


def plain_console() -> Console:
    return Console(record=True, width=120, force_terminal=False, file=io.StringIO())


def render(events: Iterable[AnyEvent], **options: object) -> str:
    console = plain_console()
    reporter = ConsoleReporter(console, **options)  # type: ignore[arg-type]
    for event in events:
        reporter.handle(event)
    reporter.close()
    return console.export_text()


def test_single_run_prints_each_step_with_request_status_and_timing() -> None:
    out = render(sample_single_run())

    assert (
        "✔ passed  Log in (login)  POST https://orders.example.test/auth/login → 200 OK · 86 ms"
        in out
    )
    assert "→ 201 Created · 145 ms" in out
    assert "✘ failed  Verify order is listed (verify_order)" in out
    assert "· 1.71 s · 3 attempts" in out
    assert "! error   Cancel order (cancel_order)" in out
    assert "! [timeout] no response within 5s" in out
    assert "- skipped Notify (notify) · when: steps.cancel_order.status == 204 was false" in out


def test_failed_assertion_shows_expected_actual_and_journey_line() -> None:
    out = render(sample_single_run())

    assert (
        'json_path $.orders[*].id contains  expected "ord-981"  actual ["ord-975", "ord-977"]'
        in out
    )
    assert "at line 36: - {type: json_path, path: '$.orders[*].id'" in out
    assert '< {"orders": [{"id": "ord-975", "status": "new"}' in out  # response excerpt
    assert "status_code equals" not in out  # passed assertions stay quiet


def test_single_run_ends_with_a_summary_line() -> None:
    out = render(sample_single_run())
    last = out.strip().splitlines()[-1]
    steps = "5 steps: 2 passed, 1 failed, 1 error, 1 skipped"
    assert last == f"! ERROR  Create and verify order · {steps} · 6.95 s"


def test_plain_output_has_no_escape_sequences() -> None:
    console = plain_console()
    reporter = ConsoleReporter(console)
    for event in [*sample_single_run(), *sample_data_run(50)]:
        reporter.handle(event)
    reporter.close()
    written = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b" not in written
    assert "✘ failed" in written


def test_verbose_shows_passed_assertions_evidence_outputs_and_attempts() -> None:
    out = render(sample_single_run(), verbose=True)

    assert "✔ passed status_code equals  expected 200  actual 200" in out
    assert "> POST https://orders.example.test/auth/login" in out
    assert "> Authorization: [REDACTED]" in out
    assert "< HTTP/1.1 201 Created" in out
    assert '→ output order_id = "ord-981"' in out
    assert "↻ attempt 1 → 200" in out and "↻ attempt 3 → 200" in out
    assert "log: retrying verify_order" in out


def test_data_run_lists_failures_capped_then_the_summary() -> None:
    out = render(sample_data_run(500), max_details=3)

    assert "500 instances · run run-data" in out
    assert out.count(" instance customer-") == 3
    assert "✘ failed  instance customer-00009 (#9)" in out
    assert "expected 201  actual 500" in out
    assert "… and 47 more failed or errored instances not shown (see every one" in out
    assert "customer-00000" not in out  # passing instances are not listed
    last = out.strip().splitlines()[-1]
    assert last == (
        "! ERROR  Create and verify order · 500 instances: 450 passed, 40 failed, 10 error · 9.50 s"
    )


def test_errored_instance_in_a_data_run_shows_its_error_code() -> None:
    out = render(sample_data_run(50, fail_every=0, error_every=50))
    assert "! error   instance customer-00049 (#49)" in out
    assert "! [timeout] no response within 5s" in out
    assert "… and" not in out


def test_non_terminal_gets_plain_progress_lines_instead_of_a_bar() -> None:
    out = render(sample_data_run(3, fail_every=0, error_every=0), plain_progress_every_s=0)
    assert "progress: 1/3 instances · ✔ 1 passed · ✘ 0 failed · ! 0 error" in out
    assert "progress: 3/3 instances · ✔ 3 passed" in out
    assert (
        out.strip().splitlines()[-1].startswith("✔ PASSED  Create and verify order · 3 instances")
    )


def test_terminal_progress_bar_runs_and_is_cleared() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120, color_system=None)
    reporter = ConsoleReporter(console)
    for event in sample_data_run(200):
        reporter.handle(event)
    reporter.close()
    written = stream.getvalue()
    assert "instances" in written
    assert written.rstrip().endswith("200 instances: 180 passed, 16 failed, 4 error · 9.50 s")


def test_setup_error_is_shown_with_its_code() -> None:
    error = StepError(code="missing-secret", message="secret ORDERS_API_TOKEN is not set")
    events: list[AnyEvent] = [
        ev.RunStarted(run_id="r", artifact_id=ARTIFACT, journey="Orders", total=1, started_at=0),
        ev.InstanceFinished(result=InstanceResult(index=0, key="k", status="error", error=error)),
        ev.RunFinished(summary=summary("r", 1, 0, 0, 1, 2.0)),
    ]
    out = render(events)
    assert "! error   setup  [missing-secret] secret ORDERS_API_TOKEN is not set" in out


def test_names_and_urls_are_never_read_as_markup() -> None:
    step = StepResult(index=0, id="s", name="[bold red]boom[/] [link=x]", status="passed")
    events: list[AnyEvent] = [
        ev.RunStarted(run_id="r", artifact_id=ARTIFACT, journey="[b]J[/b]", total=1, started_at=0),
        ev.StepFinished(instance=0, result=step),
        ev.RunFinished(summary=summary("r", 1, 1, 0, 0, 2.0)),
    ]
    out = render(events)
    assert "[bold red]boom[/] [link=x] (s)" in out


def test_control_characters_from_servers_cannot_drive_the_terminal() -> None:
    """A response or an error message may carry ESC sequences (colours, OSC 8 links,
    screen clears) or a carriage return that overwrites the line: they are shown as
    visible symbols of the same length (found by running against a hostile server)."""
    hostile = "\x1b[31mred\x1b[0m \x1b]8;;http://evil\x1b\\link\rPASSED \x9b2J"
    error = StepError(code="connection-error", message=hostile)
    step = StepResult(index=0, id="s", name="s\x1b[2K", status="error", error=error)
    events: list[AnyEvent] = [
        ev.RunStarted(run_id="r", artifact_id=ARTIFACT, journey="J\x1b[8m", total=1, started_at=0),
        ev.StepFinished(instance=0, result=step),
        ev.InstanceFinished(result=InstanceResult(index=0, key="k", status="error", steps=[step])),
        ev.RunFinished(summary=summary("r", 1, 0, 0, 1, 2.0)),
    ]
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=False, width=200)
    reporter = ConsoleReporter(console)
    for event in events:
        reporter.handle(event)
    reporter.close()
    written = stream.getvalue()
    assert "\x1b" not in written and "\r" not in written and "\x9b" not in written
    assert "␛[31mred␛[0m ␛]8;;http://evil␛\\link" in written and "PASSED \ufffd2J" in written
    assert "J␛[8m" in written and "s␛[2K" in written


def test_the_cli_console_prints_markup_and_controls_as_text() -> None:
    """`reqflo runs show` printed a run key like "[/x]" through Rich markup (a MarkupError
    crash; "[bold]" was styled) and passed ESC sequences from the service through."""
    from reqflo.report.terminal_safe import safe_console

    stream = io.StringIO()
    safe_console(file=stream, width=200).print("  #0 [/x] [bold]k[/bold]: \x1b[2Jfailed")
    assert stream.getvalue() == "  #0 [/x] [bold]k[/bold]: ␛[2Jfailed\n"
