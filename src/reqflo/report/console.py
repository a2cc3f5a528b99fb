"""The console reporter: what a person sees while `reqflo run` works.

Owns the live terminal view. A single-instance run prints each step as it finishes
(request line, status, timing, failed assertions with expected/actual and the journey
line). A data run shows a progress bar with pass/fail/error counts (terminals only; CI
logs get an occasional plain progress line instead of escape sequences), details of
the first failing instances (capped, with "… and N more"), and a summary line.
Memory stays flat: at most `max_details` failing instances are ever printed.

Whether the console is a terminal is asked once per run (at RunStarted), not per event;
rich's progress bar and spinner are imported only when one is shown (start-up time).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.text import Text

from reqflo.report.console_render import (
    instance_error_line,
    instance_heading,
    step_details,
    step_line,
    summary_line,
)
from reqflo.report.formatting import is_problem
from reqflo.report.terminal_safe import ControlCharacters
from reqflo.runner.events import (
    AnyEvent,
    InstanceFinished,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
)
from reqflo.runner.results import InstanceResult, RunSummary, StepResult

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID
    from rich.status import Status

COUNT_COLUMN = (
    "[green]✔ {task.fields[passed]} passed[/]  [red]✘ {task.fields[failed]} failed[/]  "
    "[yellow]! {task.fields[errored]} error[/]"
)


class ConsoleReporter:
    def __init__(
        self,
        console: Console,
        verbose: bool = False,
        progress: bool = True,
        max_details: int = 10,
        plain_progress_every_s: float = 10.0,
    ) -> None:
        self.console = console
        console.push_render_hook(ControlCharacters())  # a body cannot drive the terminal
        self.verbose = verbose
        self.show_progress = progress
        self.max_details = max_details
        self.plain_progress_every_s = plain_progress_every_s
        self._single = True
        self._total: int | None = 1
        self._counts = {"passed": 0, "failed": 0, "errored": 0, "cancelled": 0}
        self._step_counts: dict[str, int] = {}
        self._details_shown = 0
        self._details_hidden = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._status: Status | None = None
        self._last_plain = time.monotonic()
        self._terminal: bool | None = None  # console.is_terminal, asked once per run

    def handle(self, event: AnyEvent) -> None:
        if isinstance(event, RunStarted):
            self._on_run_started(event)
        elif isinstance(event, StepStarted) and self._single:
            self._show_activity(f"{event.step_id} …")
        elif isinstance(event, StepFinished) and self._single:
            self._on_step(event.result)
        elif isinstance(event, InstanceFinished):
            self._on_instance(event.result)
        elif isinstance(event, RunFinished):
            self._on_run_finished(event.summary)

    @property
    def event_kinds(self) -> frozenset[str] | None:
        """What a data run shows (finished instances); a single run shows every step."""
        return None if self._single else frozenset({"instance_finished"})

    def close(self) -> None:
        self._stop_live()

    # ------------------------------------------------------------ run lifecycle

    def _on_run_started(self, event: RunStarted) -> None:
        self._single = event.total == 1
        self._total = event.total
        self._terminal = None
        heading = Text("reqflo ", style="bold cyan")
        heading.append(event.journey, style="bold")
        if event.environment:
            heading.append(f" · environment {event.environment}", style="dim")
        if not self._single:
            size = f"{event.total:,}" if event.total is not None else "streamed"
            heading.append(f" · {size} instances", style="dim")
        heading.append(f" · run {event.run_id} · artifact {event.artifact_id[:12]}", style="dim")
        self.console.print(heading, soft_wrap=True)
        if not self._single and self.show_progress and self._is_terminal():
            self._start_progress(event.total)

    def _on_run_finished(self, summary: RunSummary) -> None:
        self._stop_live()
        if self._details_hidden:
            noun = "instance" if self._details_hidden == 1 else "instances"
            more = f"… and {self._details_hidden:,} more failed or errored {noun} not shown"
            hint = " (see every one with --output html:PATH or json:PATH)"
            self.console.print(Text(more + hint, style="dim"), soft_wrap=True)
        self.console.print()
        counts = self._step_counts if self._single else None
        self.console.print(summary_line(summary, counts), soft_wrap=True)

    # ------------------------------------------------------------ single instance

    def _on_step(self, step: StepResult) -> None:
        self._stop_status()
        self._step_counts[step.status] = self._step_counts.get(step.status, 0) + 1
        self.console.print(
            Group(step_line(step), *step_details(step, self.verbose)), soft_wrap=True
        )

    # ------------------------------------------------------------ every instance

    def _on_instance(self, instance: InstanceResult) -> None:
        self._count(instance)
        if self._single:
            self._stop_status()
            self._print_instance_extras(instance)
            return
        self._advance_progress()
        if is_problem(instance.status):
            self._print_failed_instance(instance)

    def _count(self, instance: InstanceResult) -> None:
        key = {"passed": "passed", "failed": "failed", "cancelled": "cancelled"}.get(
            instance.status, "errored"
        )
        self._counts[key] += 1

    def _print_instance_extras(self, instance: InstanceResult) -> None:
        error_line = instance_error_line(instance)
        if error_line is not None and not instance.steps:
            self.console.print(error_line, soft_wrap=True)
        if self.verbose:
            for log in instance.logs:
                self.console.print(Text(f"  log: {log}", style="dim"), soft_wrap=True)

    def _print_failed_instance(self, instance: InstanceResult) -> None:
        if self._details_shown >= self.max_details:
            self._details_hidden += 1
            return
        self._details_shown += 1
        lines: list[Text] = [instance_heading(instance)]
        error_line = instance_error_line(instance, indent="    ")
        if error_line is not None and not instance.steps:
            lines.append(error_line)
        for step in instance.steps:
            if self.verbose or is_problem(step.status):
                lines.append(step_line(step, indent="    "))
                lines.extend(step_details(step, self.verbose, indent="        "))
        self.console.print(Group(*lines), soft_wrap=True)

    # ------------------------------------------------------------ live displays

    def _start_progress(self, total: int | None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]instances"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(COUNT_COLUMN),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._task = self._progress.add_task("run", total=total, passed=0, failed=0, errored=0)
        self._progress.start()

    def _advance_progress(self) -> None:
        if self._progress is not None and self._task is not None:
            c = self._counts
            self._progress.update(
                self._task, advance=1, passed=c["passed"], failed=c["failed"], errored=c["errored"]
            )
            return
        if self.show_progress and not self._is_terminal():
            now = time.monotonic()
            if now - self._last_plain >= self.plain_progress_every_s:
                self._last_plain = now
                self.console.print(self._plain_progress())

    def _is_terminal(self) -> bool:
        if self._terminal is None:
            self._terminal = self.console.is_terminal
        return self._terminal

    def _plain_progress(self) -> Text:
        done = sum(self._counts.values())
        total = f"{self._total:,}" if self._total is not None else "?"
        c = self._counts
        return Text(
            f"progress: {done:,}/{total} instances · ✔ {c['passed']:,} passed · "
            f"✘ {c['failed']:,} failed · ! {c['errored']:,} error",
            style="dim",
        )

    def _show_activity(self, message: str) -> None:
        if not self.show_progress or not self._is_terminal():
            return
        from rich.status import Status

        self._stop_status()
        self._status = Status(Text(message, style="dim"), console=self.console)
        self._status.start()

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _stop_live(self) -> None:
        self._stop_status()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None
