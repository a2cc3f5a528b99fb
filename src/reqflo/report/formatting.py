"""Plain-text building blocks every reporter shares: status words, durations, values, bodies.

Owns the single vocabulary for showing results (a symbol *and* a word per status, so no
reporter relies on colour alone), value and duration formatting, pretty-printed JSON
bodies, and one-line descriptions of assertions and exchanges.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from reqflo.runner.results import (
    AssertionResult,
    Attempt,
    InstanceResult,
    StepError,
    StepResult,
)

STATUS_SYMBOLS: dict[str, str] = {
    "passed": "✔",
    "failed": "✘",
    "error": "!",
    "skipped": "-",
    "indeterminate": "?",
    "cancelled": "⊘",
}

PROBLEM_STATUSES = frozenset({"failed", "error", "indeterminate", "cancelled"})


def status_symbol(status: str) -> str:
    return STATUS_SYMBOLS.get(status, "?")


def status_label(status: str) -> str:
    """`✔ passed`, `✘ failed`, `! error`, `- skipped`: symbol and word together."""
    return f"{status_symbol(status)} {status}"


def is_problem(status: str) -> bool:
    return status in PROBLEM_STATUSES


def format_duration(ms: float) -> str:
    """`87 ms`, `1.42 s`, `2m 05s`: short and readable at every scale."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_value(value: Any, limit: int = 200) -> str:
    """A JSON-style rendering of an expected/actual value, shortened with a visible marker."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:  # circular structures
        text = repr(value)
    return shorten(text, limit)


def shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[: max(0, limit - 1)]}… ({len(text)} chars)"


def to_json_compatible(value: Any) -> Any:
    """Make an arbitrary result value safe for `json.dumps` (unknown objects become text)."""
    return json.loads(json.dumps(value, default=str))


@dataclass(frozen=True)
class PrettyBody:
    text: str
    is_json: bool
    truncated: bool


def pretty_body(body: str | None, truncated: bool = False) -> PrettyBody | None:
    """Indent JSON bodies; other bodies are returned as they are. None when there is no body."""
    if body is None or body == "":
        return None
    if not truncated:
        stripped = body.lstrip()
        if stripped[:1] in ("{", "["):
            try:
                parsed = json.loads(body)
            except ValueError:
                pass
            else:
                return PrettyBody(json.dumps(parsed, indent=2, ensure_ascii=False), True, False)
    return PrettyBody(body, False, truncated)


def excerpt_lines(text: str, max_lines: int, max_chars: int) -> tuple[list[str], bool]:
    """The first lines of `text` within both limits, and whether anything was cut."""
    cut = len(text) > max_chars
    lines = text[:max_chars].splitlines()
    if len(lines) > max_lines:
        lines, cut = lines[:max_lines], True
    return lines, cut


def assertion_target(assertion: AssertionResult) -> str:
    """`json_path $.order.id`, `header Content-Type`, `status_code`."""
    detail = assertion.path or assertion.key
    return f"{assertion.type} {detail}" if detail else assertion.type


UNARY_OPERATORS = frozenset({"exists", "not_exists"})


def expected_text(assertion: AssertionResult, limit: int = 200) -> str:
    """The expected value, or `—` for operators that take none (`exists`)."""
    if assertion.expected is None and assertion.operator in UNARY_OPERATORS:
        return "—"
    return format_value(assertion.expected, limit)


def assertion_summary(assertion: AssertionResult) -> str:
    """`json_path $.id equals: expected 7, actual 8` (one line, no source)."""
    head = f"{assertion_target(assertion)} {assertion.operator}:"
    actual = format_value(assertion.actual)
    expected = expected_text(assertion)
    text = (
        f"{head} actual {actual}"
        if expected == "—"
        else f"{head} expected {expected}, actual {actual}"
    )
    if assertion.message:
        text += f" ({assertion.message})"
    return text


def assertion_source(assertion: AssertionResult) -> str | None:
    """`line 42: - {type: status_code, expected: 201}` when the journey source is known."""
    if assertion.source_line is None and not assertion.source_text:
        return None
    where = f"line {assertion.source_line}" if assertion.source_line is not None else "source"
    text = (assertion.source_text or "").strip()
    return f"{where}: {text}" if text else where


def error_summary(error: StepError) -> str:
    return f"[{error.code}] {error.message}"


def request_line(attempt: Attempt | None) -> str | None:
    if attempt is None or attempt.request is None:
        return None
    return f"{attempt.request.method} {attempt.request.url}"


def response_line(attempt: Attempt | None) -> str | None:
    if attempt is None or attempt.response is None:
        return None
    response = attempt.response
    return f"{response.status} {response.reason}".rstrip()


def failed_assertions(step: StepResult) -> list[AssertionResult]:
    return [a for a in step.assertions if not a.passed]


def step_error(step: StepResult) -> StepError | None:
    """The step's own error, else the error of its last attempt."""
    if step.error is not None:
        return step.error
    last = step.last
    return last.error if last is not None else None


def step_title(step: StepResult) -> str:
    """`Create order (create_order)`, or just the id when the name repeats it."""
    if not step.name or step.name == step.id:
        return step.id
    return f"{step.name} ({step.id})"


def instance_title(instance: InstanceResult) -> str:
    return instance.key or f"#{instance.index}"


def first_problem(instance: InstanceResult) -> str:
    """A one-line reason an instance did not pass, for tables and progress lists."""
    if instance.error is not None:
        return error_summary(instance.error)
    for step in instance.steps:
        if not is_problem(step.status):
            continue
        error = step_error(step)
        if error is not None:
            return f"{step.id}: {error_summary(error)}"
        failures = failed_assertions(step)
        if failures:
            return f"{step.id}: {assertion_summary(failures[0])}"
        return f"{step.id}: {step.status}"
    return ""


def step_counts(instance: InstanceResult) -> dict[str, int]:
    counts: dict[str, int] = {}
    for step in instance.steps:
        counts[step.status] = counts.get(step.status, 0) + 1
    return counts


def evidence_text(attempt: Attempt | None, body_limit: int = 4000) -> str:
    """Request and response as plain text (headers and bodies), for logs and JUnit."""
    if attempt is None:
        return ""
    parts: list[str] = []
    if attempt.request is not None:
        req = attempt.request
        parts.append(f"> {req.method} {req.url}")
        parts.extend(f"> {name}: {value}" for name, value in req.headers)
        parts.extend(_body_text(req.body, req.body_truncated, body_limit, "> "))
    if attempt.response is not None:
        resp = attempt.response
        elapsed = format_duration(resp.timings.total_ms)
        parts.append(f"< HTTP/{resp.http_version} {resp.status} {resp.reason}  ({elapsed})")
        parts.extend(f"< {name}: {value}" for name, value in resp.headers)
        parts.extend(_body_text(resp.body, resp.body_truncated, body_limit, "< "))
    if attempt.error is not None:
        parts.append(f"error {error_summary(attempt.error)}")
    return "\n".join(parts)


def _body_text(body: str | None, truncated: bool, limit: int, prefix: str) -> list[str]:
    pretty = pretty_body(body, truncated)
    if pretty is None:
        return []
    text = pretty.text
    lines = [prefix.rstrip(), *text[:limit].splitlines()]
    if len(text) > limit:
        lines.append(f"[… body shortened to {limit} of {len(text)} characters]")
    if pretty.truncated:
        lines.append("[… body truncated by the runner]")
    return lines


def model_json(model: BaseModel) -> str:
    """Compact JSON for a result model; values JSON cannot hold become text, never a crash."""
    try:
        return model.model_dump_json()
    except PydanticSerializationError:
        return json.dumps(model.model_dump(), ensure_ascii=False, default=str)
