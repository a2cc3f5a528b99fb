"""`reqflo schedules add|list|next|pause|resume|remove`: schedules on the Cloud Runner.

Owns the schedule commands (registered by reqflo.cli_cloud.register). They call the
`/api/v1/schedules` routes with the stored login (`reqflo login` or REQFLO_CLOUD_URL /
REQFLO_CLOUD_TOKEN). A webhook secret is read from an environment variable
(`--webhook-secret-env NAME`), never from the command line, and is never printed; the
server stores it encrypted and never returns it. The server refuses webhook URLs to
private, loopback and metadata addresses unless it allows private ones (its answer says so).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from reqflo.cli_output import EXIT_INTERNAL, EXIT_INVALID
from reqflo.cli_output import fail as _fail
from reqflo.report.terminal_safe import safe_console

schedules_app = typer.Typer(help="Scheduled runs on the Cloud Runner.", no_args_is_help=True)
Key = Annotated[str, typer.Argument(help="The schedule's name or id.")]


def register(app: typer.Typer) -> None:
    app.add_typer(schedules_app, name="schedules")


def _api(action: Callable[[Any], Any]) -> Any:
    from reqflo.cloud.client import CloudClient, CloudError, load_login

    try:
        client = CloudClient(load_login())
    except CloudError as exc:
        raise _fail(str(exc)) from exc
    try:
        return action(client).json()
    except CloudError as exc:
        raise _fail(str(exc), EXIT_INVALID if exc.status else EXIT_INTERNAL) from exc
    finally:
        client.close()


def _line(schedule: dict[str, Any]) -> str:
    state = "enabled" if schedule["enabled"] else "paused"
    target = schedule["journey"] or f"artifact {schedule['artifact_id'][:12]}"
    upcoming = schedule["next_fires"][0][:19] if schedule["next_fires"] else "-"
    return (
        f"{schedule['name']:<20} {schedule['cron']:<15} {schedule['timezone']:<16} "
        f"{state:<8} next {upcoming}  {target} env {schedule['environment'] or '-'}"
    )


@schedules_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A unique name.")],
    cron: Annotated[str, typer.Option("--cron", help="5 fields, e.g. '30 2 * * *'.")],
    journey: Annotated[str | None, typer.Option("--journey", help="Its latest artifact.")] = None,
    artifact: Annotated[str | None, typer.Option("--artifact", help="A pinned id.")] = None,
    tz: Annotated[str, typer.Option("--tz", help="IANA timezone.")] = "UTC",
    env: Annotated[str | None, typer.Option("--env")] = None,
    case: Annotated[str | None, typer.Option("--case")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", help="NAME=VALUE input.")] = None,
    data: Annotated[Path | None, typer.Option("--data", help="CSV/JSON/NDJSON rows.")] = None,
    data_key: Annotated[str | None, typer.Option("--data-key")] = None,
    missed: Annotated[str, typer.Option("--missed", help="skip or run_once.")] = "skip",
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="POSTed (signed) when a run fails.")
    ] = None,
    webhook_secret_env: Annotated[
        str | None,
        typer.Option("--webhook-secret-env", help="Variable holding the HMAC key (write-only)."),
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
) -> None:
    """Create a schedule; prints its next fire instants."""
    from reqflo.diagnostics import DataFileError
    from reqflo.project import UsageError, parse_assignments
    from reqflo.runner.data import iter_rows

    try:
        inputs = parse_assignments(sets or [])
        rows = [r.values for r in iter_rows(data, data_key)] if data is not None else None
    except (UsageError, DataFileError) as exc:
        raise _fail(str(exc)) from exc
    secret = os.environ.get(webhook_secret_env) if webhook_secret_env else None
    if webhook_secret_env and not secret:
        raise _fail(f"--webhook-secret-env: variable {webhook_secret_env} is not set")
    body = {
        "name": name, "cron": cron, "timezone": tz, "journey": journey, "artifact_id": artifact,
        "environment": env, "case": case, "inputs": inputs, "rows": rows, "data_key": data_key,
        "missed": missed, "webhook_url": webhook_url, "webhook_secret": secret,
        "enabled": not paused,
    }  # fmt: skip
    created = _api(lambda c: c.call("POST", "/api/v1/schedules", json=body))
    safe_console().print(Text(f"✔ schedule '{name}' created ({created['id']})", "green"))
    _print_fires(created)


def _print_fires(schedule: dict[str, Any]) -> None:
    for instant in schedule["next_fires"]:
        safe_console().print(f"  next: {instant}")


@schedules_app.command("list")
def list_schedules() -> None:
    """Every schedule with its next fire instant (UTC)."""
    found = _api(lambda c: c.call("GET", "/api/v1/schedules"))
    for schedule in found:
        safe_console().print(_line(schedule))
    safe_console().print(f"{len(found)} schedules")


@schedules_app.command("next")
def next_fires(
    key: Key, count: Annotated[int, typer.Option("--count", min=1, max=100)] = 5
) -> None:
    """The next fire instants of a schedule (UTC)."""
    _print_fires(_api(lambda c: c.call("GET", f"/api/v1/schedules/{key}", params={"next": count})))


@schedules_app.command("pause")
def pause(key: Key) -> None:
    """Stop firing until resumed."""
    _api(lambda c: c.call("POST", f"/api/v1/schedules/{key}/pause"))
    safe_console().print(f"schedule '{key}' paused")


@schedules_app.command("resume")
def resume(key: Key) -> None:
    """Fire again from now on (ticks of the pause are not run)."""
    _print_fires(_api(lambda c: c.call("POST", f"/api/v1/schedules/{key}/resume")))


@schedules_app.command("remove")
def remove(key: Key) -> None:
    """Delete a schedule (its past runs stay)."""
    _api(lambda c: c.call("DELETE", f"/api/v1/schedules/{key}"))
    safe_console().print(f"schedule '{key}' removed")
