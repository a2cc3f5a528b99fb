"""The `reqflo` command line: validate, build, run, and the journey JSON Schema.

Owns the Typer app, argument parsing and the registration of every command (the cloud
and cache commands are `reqflo.cli_cloud`'s and `reqflo.cli_cache`'s), finding journey
files, and a local run's wiring to its reporters; what the commands print and the exit
codes (spec §4) are `reqflo.cli_output`'s. So that `reqflo --help` and one-row runs start
fast, heavy modules are imported inside commands, a repeat run of an unchanged journey
reuses its build (`reqflo.run_cache`), and the cycle collector pauses while start-up
allocates (`start_collecting`).
"""

from __future__ import annotations

import gc
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

_COLLECTING_BEFORE_IMPORT = gc.isenabled()
gc.disable()  # for this module's imports (Typer, Rich): see start_collecting()

# Pydantic looks up plugins through every installed package's entry points the first time
# a model is built (~20 ms of start-up with importlib.metadata); Reqflo uses none. A user who
# wants theirs sets PYDANTIC_DISABLE_PLUGINS themselves. Pydantic reads the variable at every
# model build, so it stays set for the process: only `--workers` children (forks of this
# process, wanting the same) inherit it; Reqflo starts no other programs.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer  # noqa: E402  (after the two start-up settings above)
from rich.text import Text  # noqa: E402

from reqflo import __version__  # noqa: E402
from reqflo.cli_output import (  # noqa: E402
    EXIT_INVALID,
    _console,
    _print_check,
    _result_json,
    _usage_error,
)

if TYPE_CHECKING:  # imported inside the commands that use them (start-up time)
    from reqflo.artifact import Artifact
    from reqflo.local import LocalRunOptions

DEFAULT_CONCURRENCY = 20  # local runs; cloud runs default to the service's settings
JOURNEY_MARK = re.compile(r"^journey\s*:", re.MULTILINE)

app = typer.Typer(
    name="reqflo",
    help="Compile API journeys into immutable artifacts and run them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reqflo {__version__}")
        raise typer.Exit()


def start_collecting() -> None:
    """End the start-up pause of the cycle collector that `main` begins (no-op otherwise).

    Start-up (imports, Typer, an artifact) allocates some 300k long-lived objects and
    frees almost none, yet the collector rescans them all several times (~10% of a
    one-row run). `main` pauses it; each command calls this once its imports are done:
    those objects are frozen (never rescanned, shared copy-on-write with `--workers`
    children) and collection resumes, with a larger youngest generation, for everything
    the command allocates from then on.
    """
    global _paused_by_main
    if _paused_by_main:
        _paused_by_main = False
        gc.freeze()
        # A youngest generation of 5,000 objects instead of 700: with 700 a data run ran a
        # collection about every 20 journeys at ~270 µs each; a 20,000-row run now uses
        # ~3% less CPU (three alternated pairs).
        gc.set_threshold(5000, 10, 10)
        gc.enable()


_paused_by_main = False  # True between main()'s start and start_collecting()


@app.callback()
def main_options(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Reqflo: API journeys, compiled and run locally or on a self-hosted Cloud Runner."""
    if ctx.invoked_subcommand != "run":  # `run` resumes it itself, after its imports
        start_collecting()


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def journey_files(paths: list[Path]) -> list[Path]:
    """Expand directories into the journey files below them (files with `journey:`)."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        for candidate in sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")]):
            if _is_journey(candidate):
                found.append(candidate)
    return found


def _is_journey(path: Path) -> bool:
    try:
        return bool(JOURNEY_MARK.search(path.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return False


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Journey files or folders.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print problems as JSON.")] = False,
) -> None:
    """Check journeys and report every problem at once (exit 2 on errors)."""
    from reqflo.compiler import check_file

    console = _console()
    files = journey_files(paths)
    if not files:
        _usage_error("no journey files found in " + ", ".join(str(p) for p in paths))
    results = [check_file(f, display_path(f)) for f in files]
    if as_json:
        console.print_json(json.dumps([_result_json(r) for r in results]))
    else:
        for result in results:
            _print_check(console, result)
    if any(r.errors for r in results):
        raise typer.Exit(EXIT_INVALID)


@app.command()
def build(
    path: Annotated[Path, typer.Argument(help="The journey file.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Also write the artifact here.")
    ] = None,
) -> None:
    """Compile a journey into an immutable artifact and store it in the local cache."""
    from reqflo.artifact import ArtifactCache, dumps
    from reqflo.compiler import check_file

    console = _console()
    if not path.is_file():
        _usage_error(f"no such journey file: {path}")
    result = check_file(path, display_path(path))
    if result.artifact is None:
        _print_check(console, result)
        raise typer.Exit(EXIT_INVALID)
    stored = ArtifactCache().put(result.artifact)
    if output is not None:
        output.write_text(dumps(result.artifact), encoding="utf-8")
    console.print(Text(f"✔ built {result.artifact.id}", style="bold green"))
    console.print(f"  stored {stored}" + (f"\n  wrote  {output}" if output else ""))


@app.command()
def run(
    journey: Annotated[
        str, typer.Argument(help="A journey file, a journey name or an artifact id.")
    ],
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Target environment (environments/NAME.yaml).")
    ] = None,
    case: Annotated[
        str | None, typer.Option("--case", help="A case stored in the journey.")
    ] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="An input value, NAME=VALUE (repeatable).")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="One instance per row of a .csv, .json or .jsonl file."),
    ] = None,
    data_key: Annotated[
        str | None, typer.Option("--data-key", help="Column naming each instance.")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            max=10_000,
            help="Instances in flight at once (local default 20; --cloud: the service's setting).",
        ),
    ] = None,
    outputs: Annotated[
        list[str] | None,
        typer.Option(
            "--output", "-o", help="FORMAT[:PATH]: json, junit, html, tap, ndjson (repeatable)."
        ),
    ] = None,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Start no new instance after one fails.")
    ] = False,
    secrets_file: Annotated[
        Path | None,
        typer.Option("--secrets-file", help="Local secrets file (default .reqflo/secrets.yaml)."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            max=64,
            help="Worker processes for a --data run (rows split between them).",
        ),
    ] = 1,
    http2: Annotated[
        bool, typer.Option("--http2", help="Negotiate HTTP/2 over TLS (httpx transport).")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every step's evidence.")
    ] = False,
    cloud: Annotated[
        bool, typer.Option("--cloud", help="Run on the Cloud Runner (see `reqflo login`).")
    ] = False,
) -> None:
    """Run a journey locally (or with --cloud on the Cloud Runner), report (exit 0/1/2/3/4)."""
    from reqflo.local import LocalRunOptions

    if cloud:
        from reqflo.cli_cloud import CloudRunOptions, run_cloud

        start_collecting()
        if secrets_file is not None or fail_fast:
            _usage_error("--secrets-file and --fail-fast do not apply to --cloud runs")
        remote = CloudRunOptions(env, case, tuple(sets or ()), data, data_key, concurrency)
        raise typer.Exit(run_cloud(journey, remote, outputs or [], verbose, _print_check))

    options = LocalRunOptions(
        environment=env,
        case=case,
        data=data,
        data_key=data_key,
        concurrency=concurrency or DEFAULT_CONCURRENCY,
        fail_fast=fail_fast,
        secrets_file=secrets_file,
        http2=http2,
        workers=workers,
    )
    raise typer.Exit(_run_locally(journey, options, sets or [], outputs or [], verbose))


def _run_locally(
    journey: str, options: LocalRunOptions, sets: list[str], outputs: list[str], verbose: bool
) -> int:
    from dataclasses import replace

    from reqflo.diagnostics import DataFileError, SecretsFileError
    from reqflo.project import UsageError, parse_assignments, resolve_journey

    err = _console(stderr=True)
    try:
        artifact, checked, project = resolve_journey(journey, Path.cwd())
        if artifact is None:
            assert checked is not None
            _print_check(err, checked)
            return EXIT_INVALID
        options = replace(options, assignments=parse_assignments(sets))
        return _execute(artifact, project, options, outputs, verbose)
    except (UsageError, DataFileError, SecretsFileError, ValueError) as exc:
        err.print(Text(f"error: {exc}", style="bold red"))
        return EXIT_INVALID


def _execute(
    artifact: Artifact,
    project_root: Path,
    options: LocalRunOptions,
    outputs: list[str],
    verbose: bool,
) -> int:
    from reqflo.local import run_local, unknown_columns
    from reqflo.project import Project
    from reqflo.report import ConsoleReporter, Fanout, open_reporters, parse_output_spec
    from reqflo.runner.results import exit_code

    to_stdout = any(parse_output_spec(o).path is None for o in outputs)
    console = _console(stderr=to_stdout)
    if options.data is not None:
        for warning in unknown_columns(artifact, options.data):
            console.print(Text(f"warning: {warning}", style="yellow"))
    files = open_reporters(outputs, console)
    reporter = Fanout([ConsoleReporter(console, verbose=verbose), files])
    start_collecting()
    try:
        summary = run_local(artifact, Project(project_root), options, reporter)
    finally:
        reporter.close()
    return exit_code(summary)


artifact_app = typer.Typer(help="Inspect built artifacts in the local cache.", no_args_is_help=True)
app.add_typer(artifact_app, name="artifact")


@artifact_app.command("show")
def artifact_show(
    ref: Annotated[str, typer.Argument(help="An artifact id (prefix) or an artifact file.")],
) -> None:
    """Verify an artifact and print it (exit 2 when missing or tampered with)."""
    from reqflo.artifact import ArtifactCache, dumps, loads
    from reqflo.diagnostics import ArtifactError

    try:
        path = Path(ref)
        artifact = loads(path.read_text("utf-8")) if path.is_file() else ArtifactCache().get(ref)
    except (ArtifactError, OSError) as exc:
        _usage_error(str(exc))
        return
    sys.stdout.write(dumps(artifact))


@artifact_app.command("list")
def artifact_list() -> None:
    """The artifacts in the local cache, newest first."""
    from reqflo.artifact import ArtifactCache, loads
    from reqflo.diagnostics import ArtifactError

    console = _console()
    files = sorted(ArtifactCache().root.glob("*/*.json"), key=lambda p: -p.stat().st_mtime)
    for file in files:
        try:
            artifact = loads(file.read_text("utf-8"))
        except ArtifactError as exc:
            console.print(Text(f"{file.stem[:12]}  ✘ {exc}", style="red"))
            continue
        meta = artifact.plan.journey
        console.print(
            f"{artifact.short_id}  {meta.name}  {meta.version or ''}  {artifact.source.path}"
        )


from reqflo.cli_cloud import register  # noqa: E402

register(app)
__import__("reqflo.cli_cache").cli_cache.register(app)  # cache path, info, prune
if _COLLECTING_BEFORE_IMPORT:  # an importer (tests) gets it back as it was, nothing frozen
    gc.enable()  # (main() pauses it again; start_collecting() freezes what start-up made)


@app.command()
def schema() -> None:
    """Print the JSON Schema of journey files (for editors and linters)."""
    from reqflo.journey.model import journey_json_schema

    sys.stdout.write(json.dumps(journey_json_schema(), indent=2) + "\n")


def main() -> None:
    global _paused_by_main
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    if gc.isenabled():
        _paused_by_main = True
        gc.disable()  # until start_collecting(): see there
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        if _paused_by_main:  # a command that ended before its start_collecting()
            _paused_by_main = False
            gc.enable()


if __name__ == "__main__":
    main()
