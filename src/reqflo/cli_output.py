"""What the local commands print, and the exit codes of `reqflo` (spec §4).

Owns the exit codes (0 passed, 1 assertion failed, 2 invalid journey or usage, 3 step
error, 4 internal or runner failure), the console the commands write to, a journey
check's result (diagnostics with their source lines, styled; a summary line; or JSON for
`validate --json`) and usage errors (exit 2). Imports only Typer and Rich, which the
CLI has loaded anyway, so it costs start-up nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.text import Text

from reqflo.report.terminal_safe import safe_console

if TYPE_CHECKING:
    from reqflo.compiler import CheckResult

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_STEP_ERROR, EXIT_INTERNAL = 0, 1, 2, 3, 4


def _console(stderr: bool = False) -> Console:
    return safe_console(stderr=stderr)


def fail(message: str, code: int = EXIT_INVALID) -> typer.Exit:
    """Say what went wrong on stderr; the exit to raise (`raise fail(...)`)."""
    _console(stderr=True).print(Text(f"error: {message}", style="bold red"))
    return typer.Exit(code)


def print_diagnostics(console: Console, rendered: str) -> None:
    for line in rendered.splitlines():
        style = ""
        if line.startswith("error"):
            style = "bold red"
        elif line.startswith("warning"):
            style = "bold yellow"
        elif line.lstrip().startswith("= hint"):
            style = "cyan"
        console.print(Text(line, style=style))


def _result_json(result: CheckResult) -> dict[str, object]:
    return {
        "file": result.parsed.source.file,
        "valid": not result.errors,
        "artifact_id": result.artifact.id if result.artifact else None,
        "problems": [
            {
                "code": d.code,
                "severity": d.severity.value,
                "message": d.message,
                "line": d.position.line if d.position else None,
                "column": d.position.column if d.position else None,
                "hint": d.hint,
            }
            for d in result.diagnostics
        ],
    }


def _print_check(console: Console, result: CheckResult) -> None:
    if result.diagnostics:
        print_diagnostics(console, result.render())
        console.print()
    file = result.parsed.source.file
    warnings = len(result.diagnostics) - len(result.errors)
    if result.errors:
        console.print(
            Text(
                f"✘ {file}: {_count(len(result.errors), 'error')}"
                f"{', ' + _count(warnings, 'warning') if warnings else ''}",
                style="bold red",
            )
        )
    else:
        assert result.artifact is not None
        extra = f" ({_count(warnings, 'warning')})" if warnings else ""
        console.print(
            Text(f"✔ {file}: valid{extra}, artifact {result.artifact.short_id}", style="bold green")
        )


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _usage_error(message: str) -> None:
    _console(stderr=True).print(Text(f"error: {message}", style="bold red"))
    raise typer.Exit(EXIT_INVALID)
