"""Cloud Runner commands of the `reqflo` CLI, registered onto the main Typer app.

Owns `reqflo server`, `reqflo token create`, `reqflo login`, `reqflo runs
list|show|cancel|rerun`, `reqflo env push|list` and `run_cloud` (what `reqflo run
--cloud` does: compile locally, upload the artifact, submit the run with a fresh
idempotency key, follow its server-sent events into the same console and `--output`
reporters as a local run, and exit with the same codes). Secret values never leave
the server: the client sends names and inputs only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from reqflo.cli_output import EXIT_INTERNAL, EXIT_INVALID
from reqflo.cli_output import _console as _out
from reqflo.cli_output import fail as _fail

DATA_DIR_HELP = "Data directory (default $REQFLO_HOME/server)."
DB_HELP = "Database URL (default: SQLite file in the data directory; or postgresql://...)."

token_app = typer.Typer(help="API tokens of a Cloud Runner.", no_args_is_help=True)
runs_app = typer.Typer(help="Runs on the Cloud Runner.", no_args_is_help=True)
env_app = typer.Typer(help="Environments stored in the Cloud Runner.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the cloud commands to `app`."""
    app.command("server")(server)
    app.command("worker")(worker)
    app.command("login")(login)
    app.add_typer(token_app, name="token")
    app.add_typer(runs_app, name="runs")
    app.add_typer(env_app, name="env")
    __import__("reqflo.cli_secrets").cli_secrets.register(app)  # cloud secrets (issue 5)
    __import__("reqflo.cli_schedules").cli_schedules.register(app)  # schedules (issue 7)


def server(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)] = None,
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    host: Annotated[str | None, typer.Option("--host", help="Default 127.0.0.1.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default 8787.")] = None,
    executor: Annotated[
        str | None, typer.Option("--executor", help="durable (default if available) or inprocess")
    ] = None,
    secure_cookies: Annotated[
        bool | None,
        typer.Option(
            "--secure-cookies", help="Web UI cookies only over HTTPS (behind a TLS proxy)."
        ),
    ] = None,
    api_only: Annotated[
        bool | None,
        typer.Option(
            "--api-only", help="Submit runs but leave their execution to `reqflo worker`s."
        ),
    ] = None,
) -> None:
    """Start the Cloud Runner: HTTP API, web UI and executor in one process."""
    import logging

    from reqflo.cloud.server import ServerConfig, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = ServerConfig.resolve(
            data_dir, db, host, port, executor, secure_cookies=secure_cookies, api_only=api_only
        )
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    serve(config)


def worker(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)] = None,
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1)] = 20,
    executor_id: Annotated[
        str | None, typer.Option("--executor-id", help="Reuse after a restart to resume.")
    ] = None,
) -> None:
    """Start a durable worker sharing the server's database (PostgreSQL to scale out)."""
    import importlib

    from reqflo.cloud.server import ServerConfig, open_store

    config = ServerConfig.resolve(data_dir, db, executor="inprocess")
    open_store(config).close()  # the data directory exists and the schema is migrated
    args = ["--db", config.db_url, "--data-dir", str(config.data_dir)]
    args += ["--concurrency", str(concurrency), "--sink", "reqflo.cloud.server:store_sink"]
    args += ["--executor-id", executor_id] if executor_id else []
    try:
        entry = importlib.import_module("reqflo.cloud.durable.worker")
    except ImportError as exc:
        raise _fail(f"durable workers are not available: {exc}", EXIT_INTERNAL) from exc
    raise typer.Exit(entry.main(args))


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the token.")],
    role: Annotated[str, typer.Option("--role", help="admin, editor or viewer.")] = "viewer",
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)] = None,
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
) -> None:
    """Create an API token in the server's database (prints it once; stored hashed)."""
    from reqflo.cloud.server import ServerConfig, open_store

    store = open_store(ServerConfig.resolve(data_dir, db, executor="inprocess"))
    try:
        record, token = store.create_token(name, role)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    finally:
        store.close()
    _out(stderr=True).print(f"created {record.role} token '{record.name}' (id {record.id}):")
    sys.stdout.write(token + "\n")


def login(
    url: Annotated[str, typer.Argument(help="The Cloud Runner, e.g. http://127.0.0.1:8787")],
    token: Annotated[str, typer.Option("--token", help="An API token.")],
) -> None:
    """Check the token against the server and store URL + token in the user's config."""
    from reqflo.cloud.client import CloudClient, CloudError, Login, config_path, save_login

    client = CloudClient(Login(url.rstrip("/"), token))
    try:
        client.runs(limit=1)
    except CloudError as exc:
        raise _fail(str(exc), EXIT_INVALID if exc.status else EXIT_INTERNAL) from exc
    finally:
        client.close()
    save_login(url, token)
    _out().print(Text(f"✔ logged in to {url.rstrip('/')} (saved in {config_path()})", "green"))


def _client() -> Any:
    from reqflo.cloud.client import CloudClient, CloudError, load_login

    try:
        return CloudClient(load_login())
    except CloudError as exc:
        raise _fail(str(exc)) from exc


def _calling(action: Callable[[Any], Any]) -> Any:
    from reqflo.cloud.client import CloudError

    client = _client()
    try:
        return action(client)
    except CloudError as exc:
        raise _fail(str(exc), EXIT_INVALID if exc.status else EXIT_INTERNAL) from exc
    finally:
        client.close()


@runs_app.command("list")
def runs_list(
    journey: Annotated[str | None, typer.Option("--journey")] = None,
    status: Annotated[str | None, typer.Option("--status")] = None,
    env: Annotated[str | None, typer.Option("--env")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
) -> None:
    """Runs, newest first, with filters."""
    page = _calling(
        lambda c: c.runs(
            journey=journey, status=status, environment=env, limit=limit, offset=offset
        )
    )
    console = _out()
    for run in page["runs"]:
        counts = f"{run['passed']}/{run['failed']}/{run['errored']}"
        console.print(
            f"{run['id']}  {run['status']:<13} {counts:<9} {run['environment'] or '-':<12} "
            f"{run['created_at'][:19]}  {run['journey']}"
        )
    console.print(f"{len(page['runs'])} of {page['total']} runs")


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument()],
    as_json: Annotated[bool, typer.Option("--json", help="The full results as JSON.")] = False,
) -> None:
    """A run with its instances (full redacted results with --json)."""
    run = _calling(lambda c: c.run(run_id))
    if as_json:
        sys.stdout.write(json.dumps(run, indent=2) + "\n")
        return
    console = _out()
    console.print(f"run {run['id']}  {run['journey']}  env {run['environment'] or '-'}")
    console.print(f"status {run['status']}: {run['passed']} passed, {run['failed']} failed, "
                  f"{run['errored']} errored of {run['total']}")  # fmt: skip
    for instance in run["instances"]:
        console.print(f"  #{instance['index']} {instance['key']}: {instance['status']}")


@runs_app.command("cancel")
def runs_cancel(run_id: Annotated[str, typer.Argument()]) -> None:
    """Cancel a queued or running run."""
    run = _calling(lambda c: c.cancel(run_id))
    _out().print(f"run {run['id']}: {run['status']}")


@runs_app.command("rerun")
def runs_rerun(run_id: Annotated[str, typer.Argument()]) -> None:
    """Run the same artifact again with the same environment, case, inputs and rows."""
    run = _calling(lambda c: c.rerun(run_id))
    _out().print(f"run {run['id']} queued (rerun of {run_id})")


@env_app.command("push")
def env_push(
    name: Annotated[str, typer.Argument(help="The environment's name in the service.")],
    file: Annotated[Path, typer.Argument(help="A YAML or JSON mapping of names to values.")],
) -> None:
    """Create or replace an environment in the Cloud Runner from a local file."""
    from reqflo.yaml_values import YamlValuesError, load_values

    try:
        values = load_values(file.read_text(encoding="utf-8"))
    except (OSError, YamlValuesError, UnicodeDecodeError) as exc:
        raise _fail(f"{file}: cannot read the environment file: {exc}") from exc
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise _fail(f"{file}: an environment file is a mapping of names to values")
    _calling(lambda c: c.put_environment(name, values))
    _out().print(Text(f"✔ environment '{name}' pushed ({len(values)} values)", "green"))


@env_app.command("list")
def env_list() -> None:
    """Environments stored in the Cloud Runner."""
    for env in _calling(lambda c: c.environments()):
        _out().print(
            f"{env['name']}  {len(env['values'])} values  updated {env['updated_at'][:19]}"
        )


# ---------------------------------------------------------------- reqflo run --cloud


@dataclass(frozen=True)
class CloudRunOptions:
    environment: str | None = None
    case: str | None = None
    sets: tuple[str, ...] = ()
    data: Path | None = None
    data_key: str | None = None
    concurrency: int | None = None  # None: the service's runner settings decide


def run_cloud(
    journey: str,
    options: CloudRunOptions,
    outputs: list[str],
    verbose: bool,
    print_check: Callable[[Console, Any], None],
) -> int:
    """`reqflo run --cloud`: the same report and exit code as a local run."""
    from reqflo.cloud.client import CloudError
    from reqflo.diagnostics import DataFileError
    from reqflo.project import UsageError, parse_assignments, resolve_journey

    err = _out(stderr=True)
    try:
        artifact, checked, _ = resolve_journey(journey, Path.cwd())
        if artifact is None:
            print_check(err, checked)
            return EXIT_INVALID
        request = _run_request(artifact, options, parse_assignments(options.sets))
        return _follow(artifact, request, outputs, verbose, err)
    except (UsageError, DataFileError) as exc:
        err.print(Text(f"error: {exc}", style="bold red"))
        return EXIT_INVALID
    except CloudError as exc:
        err.print(Text(f"error: {exc}", style="bold red"))
        return EXIT_INVALID if exc.status and exc.status < 500 else EXIT_INTERNAL


def _run_request(artifact: Any, options: CloudRunOptions, inputs: dict[str, str]) -> dict[str, Any]:
    import uuid

    from reqflo.runner.data import iter_rows

    rows = None
    if options.data is not None:
        rows = [row.values for row in iter_rows(options.data, options.data_key)]
    return {
        "artifact_id": artifact.id, "environment": options.environment, "case": options.case,
        "inputs": inputs, "rows": rows, "data_key": options.data_key,
        "concurrency": min(options.concurrency, 1000) if options.concurrency else None,
        "idempotency_key": uuid.uuid4().hex,
    }  # fmt: skip


def _follow(
    artifact: Any, request: dict[str, Any], outputs: list[str], verbose: bool, err: Console
) -> int:
    from reqflo.artifact import dumps
    from reqflo.report import ConsoleReporter, Fanout, open_reporters, parse_output_spec

    client = _client()
    try:
        client.upload_artifact(dumps(artifact))
        run = client.submit_run(request)
        err.print(Text(f"☁ run {run['id']} on {client.login.url}", style="dim"))
        to_stdout = any(parse_output_spec(o).path is None for o in outputs)
        console = _out(stderr=to_stdout)
        reporter = Fanout(
            [ConsoleReporter(console, verbose=verbose), open_reporters(outputs, console)]
        )
        try:
            return _replay(client, run["id"], reporter, err)
        finally:
            reporter.close()
    finally:
        client.close()


def _replay(client: Any, run_id: str, reporter: Any, err: Console) -> int:
    from reqflo.runner.events import RunFinished
    from reqflo.runner.results import exit_code

    finished: RunFinished | None = None
    status = "unknown"
    for sse in client.events(run_id):
        if sse.kind == "end":
            status = json.loads(sse.data).get("status", status)
            continue
        event = decode_event(sse.kind, sse.data)
        if event is not None:
            reporter.handle(event)
            finished = event if isinstance(event, RunFinished) else finished
    if finished is not None and status != "cancelled":
        return exit_code(finished.summary)
    err.print(Text(f"error: run {run_id} ended {status} on the Cloud Runner", style="bold red"))
    return EXIT_INTERNAL


def decode_event(kind: str, data: str) -> Any:
    """An engine event from its SSE form; None for kinds this client does not know."""
    from reqflo.runner import events

    classes = {
        cls.model_fields["kind"].default: cls
        for cls in (events.RunStarted, events.InstanceStarted, events.StepStarted,
                    events.StepFinished, events.InstanceFinished, events.RunFinished)
    }  # fmt: skip
    cls = classes.get(kind)
    return cls.model_validate_json(data) if cls is not None else None
