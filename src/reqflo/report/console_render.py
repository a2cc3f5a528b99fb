"""Rich renderables for results on the terminal: step lines, assertions, evidence, summaries.

Owns how one step, one instance and one run summary look in the console. Every status is
shown as symbol + word (never colour alone) and user data is always placed in `Text`
objects, never parsed as Rich markup, so a `[` in a URL or body cannot break the output.
"""

from __future__ import annotations

import json

from rich.text import Text

from reqflo.report.formatting import (
    assertion_source,
    assertion_target,
    error_summary,
    excerpt_lines,
    expected_text,
    format_duration,
    format_value,
    instance_title,
    is_problem,
    pretty_body,
    shorten,
    status_label,
    step_error,
    step_title,
)
from reqflo.runner.results import (
    AssertionResult,
    Attempt,
    InstanceResult,
    RunSummary,
    StepResult,
)

STATUS_STYLES = {
    "passed": "green",
    "failed": "bold red",
    "error": "bold yellow",
    "skipped": "dim",
    "indeterminate": "bold magenta",
    "cancelled": "magenta",
}
LABEL_WIDTH = len("✘ skipped")
BODY_EXCERPT_LINES = 12
BODY_EXCERPT_CHARS = 400


def status_text(status: str, width: int = LABEL_WIDTH) -> Text:
    return Text(status_label(status).ljust(width), style=STATUS_STYLES.get(status, ""))


def http_status_style(status: int) -> str:
    if status >= 500:
        return "bold red"
    if status >= 400:
        return "yellow"
    if status >= 300:
        return "cyan"
    return "green"


def step_line(step: StepResult, indent: str = "  ") -> Text:
    """`✘ failed  Create order (create_order)  POST https://x/orders → 500 · 80 ms · 3 attempts`"""
    line = Text(indent)
    line.append_text(status_text(step.status))
    line.append(" ")
    line.append(step_title(step), style="bold")
    last = step.last
    if last is not None and last.request is not None:
        line.append(f"  {last.request.method} {last.request.url}")
    if last is not None and last.response is not None:
        response = last.response
        line.append(" → ")
        status = f"{response.status} {response.reason}".rstrip()
        line.append(status, style=http_status_style(response.status))
    if step.status != "skipped":
        line.append(f" · {format_duration(step.duration_ms)}", style="dim")
    if len(step.attempts) > 1:
        line.append(f" · {len(step.attempts)} attempts", style="cyan")
    if step.status == "skipped" and step.skipped_reason:
        line.append(f" · {step.skipped_reason}", style="dim")
    return line


def assertion_lines(assertion: AssertionResult, indent: str) -> list[Text]:
    """The assertion with expected vs actual, then where it is in the journey."""
    status = "passed" if assertion.passed else "failed"
    line = Text(indent)
    line.append_text(status_text(status, width=0))
    line.append(f" {assertion_target(assertion)} {assertion.operator}")
    expected = expected_text(assertion)
    if expected != "—":
        line.append("  expected ", style="dim")
        line.append(expected, style="green")
    line.append("  actual ", style="dim")
    line.append(format_value(assertion.actual), style="" if assertion.passed else "red")
    lines = [line]
    if assertion.message and not assertion.passed:
        lines.append(Text(f"{indent}  {assertion.message}", style="dim"))
    source = assertion_source(assertion)
    if source and not assertion.passed:
        lines.append(Text(f"{indent}  at {source}", style="dim"))
    return lines


def step_details(step: StepResult, verbose: bool, indent: str = "      ") -> list[Text]:
    """What follows a step line: errors, assertions, retries and (verbose) the evidence."""
    lines: list[Text] = []
    error = step_error(step)
    if error is not None and is_problem(step.status):
        lines.append(Text(f"{indent}! {error_summary(error)}", style="yellow"))
    for assertion in step.assertions:
        if verbose or not assertion.passed:
            lines.extend(assertion_lines(assertion, indent))
    if verbose and len(step.attempts) > 1:
        lines.extend(attempt_lines(step.attempts, indent))
    if verbose:
        lines.extend(exchange_lines(step.last, indent, full=True))
        lines.extend(_output_lines(step, indent))
    elif is_problem(step.status):
        lines.extend(exchange_lines(step.last, indent, full=False))
    return lines


def attempt_lines(attempts: tuple[Attempt, ...], indent: str) -> list[Text]:
    lines = []
    for attempt in attempts:
        line = Text(f"{indent}↻ attempt {attempt.number}")
        if attempt.response is not None:
            code = attempt.response.status
            line.append(f" → {code}", style=http_status_style(code))
            line.append(f" · {format_duration(attempt.response.timings.total_ms)}", style="dim")
        failed = sum(1 for a in attempt.assertions if not a.passed)
        if attempt.error is not None:
            line.append(f" · {error_summary(attempt.error)}", style="yellow")
        elif failed:
            line.append(f" · {failed} assertion(s) failed", style="red")
        else:
            line.append(" · assertions passed", style="green")
        lines.append(line)
    return lines


def exchange_lines(attempt: Attempt | None, indent: str, full: bool) -> list[Text]:
    """Verbose: request and response headers and bodies. Otherwise: a response excerpt."""
    if attempt is None:
        return []
    lines: list[Text] = []
    if full and attempt.request is not None:
        request = attempt.request
        lines.append(Text(f"{indent}> {request.method} {request.url}", style="cyan"))
        lines.extend(Text(f"{indent}> {k}: {v}", style="dim") for k, v in request.headers)
        lines.extend(_body_lines(request.body, request.body_truncated, indent + "> ", full))
    response = attempt.response
    if response is not None:
        if full:
            head = f"{indent}< HTTP/{response.http_version} {response.status} {response.reason}"
            lines.append(Text(head.rstrip(), style="cyan"))
            lines.extend(Text(f"{indent}< {k}: {v}", style="dim") for k, v in response.headers)
        lines.extend(_body_lines(response.body, response.body_truncated, indent + "< ", full))
    return lines


def _body_lines(body: str | None, truncated: bool, prefix: str, full: bool) -> list[Text]:
    pretty = pretty_body(body, truncated)
    if pretty is None or body is None:
        return []
    if not full and pretty.is_json:  # one compact line reads best in a failure list
        compact = json.dumps(json.loads(body), ensure_ascii=False)
        return [Text(f"{prefix}{shorten(compact, BODY_EXCERPT_CHARS)}", style="dim")]
    max_lines = 200 if full else BODY_EXCERPT_LINES
    max_chars = 20_000 if full else BODY_EXCERPT_CHARS
    shown, cut = excerpt_lines(pretty.text, max_lines, max_chars)
    lines = [Text(f"{prefix}{line}", style="dim") for line in shown]
    if cut:
        lines.append(Text(f"{prefix}… ({len(pretty.text)} characters in all)", style="dim"))
    if pretty.truncated:
        lines.append(Text(f"{prefix}… body truncated by the runner", style="dim"))
    return lines


def _output_lines(step: StepResult, indent: str) -> list[Text]:
    return [
        Text(f"{indent}→ output {name} = {format_value(value, 120)}", style="blue")
        for name, value in step.outputs.items()
    ]


def instance_heading(instance: InstanceResult) -> Text:
    """`✘ failed  instance c-42 (#17) · 1.20 s · customer_id="c-42"`"""
    line = Text()
    line.append_text(status_text(instance.status))
    line.append(" instance ")
    line.append(instance_title(instance), style="bold")
    line.append(f" (#{instance.index}) · {format_duration(instance.duration_ms)}", style="dim")
    if instance.inputs:
        pairs = ", ".join(f"{k}={format_value(v, 40)}" for k, v in instance.inputs.items())
        line.append(f" · {shorten(pairs, 160)}", style="dim")
    return line


def instance_error_line(instance: InstanceResult, indent: str = "  ") -> Text | None:
    """An instance that stopped before (or outside) its steps: missing secret, input..."""
    if instance.error is None:
        return None
    line = Text(indent)
    line.append_text(status_text("error"))
    line.append(" setup", style="bold")
    line.append(f"  {error_summary(instance.error)}", style="yellow")
    return line


def summary_line(summary: RunSummary, step_counts: dict[str, int] | None) -> Text:
    """`✘ FAILED  Orders · 4 steps: 2 passed, 1 failed, 1 skipped · 1.23 s`"""
    line = Text()
    label = status_label(summary.status).upper()
    line.append(label, style=STATUS_STYLES.get(summary.status, ""))
    line.append("  ")
    line.append(summary.journey, style="bold")
    if step_counts is not None:
        total = sum(step_counts.values())
        line.append(f" · {total} step{'s' if total != 1 else ''}: ")
        _append_counts(line, step_counts)
    else:
        counts = {"passed": summary.passed, "failed": summary.failed, "error": summary.errored,
                  "cancelled": summary.cancelled}  # fmt: skip
        line.append(f" · {summary.total} instance{'s' if summary.total != 1 else ''}: ")
        _append_counts(line, counts)
    line.append(f" · {format_duration(summary.duration_ms)}", style="dim")
    return line


def _append_counts(line: Text, counts: dict[str, int]) -> None:
    order = ["passed", "failed", "error", "indeterminate", "skipped", "cancelled"]
    parts = [(status, counts[status]) for status in order if counts.get(status)]
    if not parts:
        line.append("none")
    for i, (status, count) in enumerate(parts):
        if i:
            line.append(", ")
        line.append(f"{count} {status}", style=STATUS_STYLES.get(status, ""))
