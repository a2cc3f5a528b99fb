"""`reqflo secrets ...`: cloud-managed secrets from the command line (admin tokens only).

Owns `set` (the value comes from a hidden prompt, asked twice, or from standard input
when it is not a terminal; never from an argument, so it stays out of shell history and
process lists), `list`, `versions`, `disable`, `destroy`, `audit` (with `--verify`) over
the Cloud Runner API, and `rotate-master-key`, which runs on the server machine against
its database: every data key is re-wrapped by the new master key (values untouched),
then `<data dir>/master.key` is replaced (a copy of the new key waits in
`master.key.new` until the database is done, so an interruption never loses it). A data
key the current master key cannot unwrap stops the rotation before anything is written,
naming each such secret version or schedule (exit code 2, with a hint). No command ever
prints a value.
"""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer
from rich.text import Text

from reqflo.cli_cloud import DATA_DIR_HELP, DB_HELP, _calling, _fail, _out

if TYPE_CHECKING:
    from reqflo.store import Store

secrets_app = typer.Typer(
    help="Secrets stored encrypted in the Cloud Runner (admin).", no_args_is_help=True
)
ENV_HELP = "The environment, or '*' for a workspace-wide secret."
EnvOption = Annotated[str, typer.Option("--env", "-e", help=ENV_HELP)]
NameArg = Annotated[str, typer.Argument(help="The secret's name, as in {{ secrets.NAME }}.")]
NEW_KEY_ENV = "REQFLO_NEW_MASTER_KEY"
SHOWN_PROBLEMS = 20


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")


def _path(env: str, name: str, suffix: str = "") -> str:
    return f"/api/v1/secrets/{quote(env, safe='*')}/{quote(name, safe='')}{suffix}"


def _read_value() -> str:
    if sys.stdin.isatty():
        value: str = typer.prompt("Value", hide_input=True, confirmation_prompt=True)
        return value
    value = sys.stdin.read()
    return value[:-1] if value.endswith("\n") else value


@secrets_app.command("set")
def secrets_set(
    name: NameArg,
    env: EnvOption,
    expected_version: Annotated[
        int | None,
        typer.Option("--expected-version", help="Refuse unless this is the current version."),
    ] = None,
) -> None:
    """Store a new version of a secret; the value is read from a hidden prompt or stdin."""
    value = _read_value()
    if not value:
        raise _fail("the value is empty")
    body: dict[str, Any] = {"value": value, "expected_version": expected_version}
    record = _calling(lambda c: c.call("PUT", _path(env, name), json=body).json())
    _out().print(Text(f"✔ secret '{name}' in '{env}' is now version "
                      f"{record['current_version']}", "green"))  # fmt: skip


@secrets_app.command("list")
def secrets_list(
    env: Annotated[str | None, typer.Option("--env", "-e", help=ENV_HELP)] = None,
) -> None:
    """Secret names per environment, with current version and status (never values)."""
    params = {"environment": env} if env else {}
    records = _calling(lambda c: c.call("GET", "/api/v1/secrets", params=params).json())
    console = _out()
    for r in records:
        console.print(f"{r['environment']:<16} {r['name']:<32} v{r['current_version']:<4} "
                      f"{r['status']:<10} updated {r['updated_at'][:19]}")  # fmt: skip
    console.print(f"{len(records)} secrets")


@secrets_app.command("versions")
def secrets_versions(name: NameArg, env: EnvOption) -> None:
    """A secret's versions, newest first (current, previous or destroyed)."""
    versions = _calling(lambda c: c.call("GET", _path(env, name, "/versions")).json())
    for v in versions:
        _out().print(f"v{v['version']:<4} {v['state']:<10} {v['created_at'][:19]}  "
                     f"by {v['created_by']}")  # fmt: skip


@secrets_app.command("disable")
def secrets_disable(name: NameArg, env: EnvOption) -> None:
    """Runs stop resolving the secret (they fail with missing-secret) until it is set again."""
    _calling(lambda c: c.call("POST", _path(env, name, "/disable")))
    _out().print(Text(f"✔ secret '{name}' in '{env}' disabled", "green"))


@secrets_app.command("destroy")
def secrets_destroy(
    name: NameArg,
    env: EnvOption,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Wipe the ciphertext of every version of a secret (irreversible)."""
    if not yes and not typer.confirm(f"Destroy every version of '{name}' in '{env}'?"):
        raise typer.Exit(1)
    _calling(lambda c: c.call("POST", _path(env, name, "/destroy")))
    _out().print(Text(f"✔ secret '{name}' in '{env}' destroyed", "green"))


@secrets_app.command("audit")
def secrets_audit(
    env: Annotated[str | None, typer.Option("--env", "-e", help=ENV_HELP)] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    action: Annotated[str | None, typer.Option("--action", help="set, resolve, ...")] = None,
    run_id: Annotated[str | None, typer.Option("--run")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    verify: Annotated[bool, typer.Option("--verify", help="Check the hash chain.")] = False,
) -> None:
    """The audit log, newest first: who set, disabled, destroyed or resolved what."""
    if verify:
        check = _calling(lambda c: c.call("GET", "/api/v1/secrets/audit/verify").json())
        if not check["ok"]:
            raise _fail(f"the audit log is broken: {check['problem']}")
        _out().print(Text(f"✔ audit log intact: {check['entries']} entries, head "
                          f"{check['head']}", "green"))  # fmt: skip
        return
    filters = {"environment": env, "name": name, "action": action, "run_id": run_id}
    params: dict[str, Any] = {k: v for k, v in filters.items() if v is not None}
    params["limit"] = limit
    for e in _calling(lambda c: c.call("GET", "/api/v1/secrets/audit", params=params).json()):
        target = f"{e['environment'] or '-'}/{e['name'] or '-'} v{e['version']}"
        run = f" run {e['run_id']}" if e["run_id"] else ""
        _out().print(f"#{e['seq']:<5} {e['at'][:19]}  {e['action']:<18} {target}{run}  "
                     f"by {e['actor']}")  # fmt: skip


@secrets_app.command("rotate-master-key")
def rotate_master_key(
    new_key_file: Annotated[
        Path | None,
        typer.Option("--new-key-file", help=f"Base64 key file (else ${NEW_KEY_ENV}, else new)."),
    ] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP)] = None,
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
) -> None:
    """Re-wrap every secret's data key with a new master key (run with the service stopped)."""
    from reqflo.cloud.durable.keys import KEY_ENV, KEY_FILE, SealError, load_master_key
    from reqflo.cloud.server import ServerConfig, open_store

    config = ServerConfig.resolve(data_dir, db, executor="inprocess")
    from_env = bool(os.environ.get(KEY_ENV, "").strip())
    given = new_key_file is not None or bool(os.environ.get(NEW_KEY_ENV, "").strip())
    if from_env and not given:
        raise _fail(f"the master key comes from {KEY_ENV}: give the new one with "
                    f"--new-key-file or {NEW_KEY_ENV}")  # fmt: skip
    try:
        old_key, new_key = load_master_key(config.data_dir), _new_key(new_key_file)
    except (SealError, OSError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    key_path = config.data_dir / KEY_FILE
    staged = None if from_env else key_path.with_name(KEY_FILE + ".new")
    store = open_store(config)
    try:
        count = _rotate(store, old_key, new_key, staged)
    finally:
        store.close()
    err = _out(stderr=True)
    err.print(Text(f"✔ {count} data keys re-wrapped with the new master key", "green"))
    if staged is None:
        err.print(f"now set {KEY_ENV} to the new key on every server and worker")
    else:
        staged.replace(key_path)
        err.print(f"{key_path} now holds the new master key")


def _rotate(store: Store, old_key: bytes, new_key: bytes, staged: Path | None) -> int:
    """Check that the old key unwraps every data key, then re-wrap them (schedules' webhook
    secrets, then the vault: one transaction each, both re-runnable). A data key the old
    key cannot unwrap stops the command before anything is written; the new key is staged
    in `staged` (when the key lives in a file) before the first write."""
    from reqflo.secrets.envelope import EnvelopeError
    from reqflo.store.schedule_secrets import rewrap_all
    from reqflo.store.secret_store import RotationRefused, SecretVault

    vault = SecretVault(store, old_key)
    problems = [str(p) for p in vault.rotation_problems(new_key)]
    problems += _stray_webhook_secrets(store, old_key, new_key)
    if problems:
        raise _refused(problems, old_key, staged)
    if staged is not None:
        _write_key(staged, new_key)
    try:
        count = rewrap_all(store, old_key, new_key)
    except EnvelopeError as exc:  # key id matches, yet it does not open: tampered or moved
        if staged is not None:
            staged.unlink(missing_ok=True)
        stray = ["a schedule's webhook secret (tampered or moved)"]
        raise _refused(stray, old_key, staged) from exc
    try:
        return count + vault.rotate_master_key(new_key, "cli rotate-master-key")
    except RotationRefused as exc:  # written under another key since the check just above
        again = f" with --new-key-file {staged}" if staged else f" with the same {NEW_KEY_ENV}"
        raise _fail(f"{exc}. The webhook secrets were re-wrapped already: destroy those "
                    f"secrets, then run again{again}") from exc  # fmt: skip


def _stray_webhook_secrets(store: Store, old_key: bytes, new_key: bytes) -> list[str]:
    """Schedules whose webhook secret is wrapped by neither key (so the old one cannot
    unwrap it): named by schedule, never by value."""
    from sqlalchemy import select

    from reqflo.secrets.envelope import key_id
    from reqflo.store.schedule_models import ScheduleRow

    known = {key_id(old_key), key_id(new_key)}
    query = select(ScheduleRow.name, ScheduleRow.webhook_secret_key_id).where(
        ScheduleRow.webhook_secret_wrapped_key.is_not(None)
    )
    with store.session() as session:
        rows = session.execute(query.order_by(ScheduleRow.name)).all()
    return [f"the webhook secret of schedule '{name}' (wrapped by key {wrapped_by})"
            for name, wrapped_by in rows if wrapped_by and wrapped_by not in known]  # fmt: skip


def _refused(problems: list[str], old_key: bytes, staged: Path | None) -> typer.Exit:
    from reqflo.cloud.durable.keys import KEY_ENV, KEY_FILE
    from reqflo.secrets.envelope import key_id

    where = str(staged.with_name(KEY_FILE)) if staged else KEY_ENV
    shown = "".join(f"\n  - {p}" for p in problems[:SHOWN_PROBLEMS])
    if len(problems) > SHOWN_PROBLEMS:
        shown += f"\n  … and {len(problems) - SHOWN_PROBLEMS} more"
    return _fail(
        f"{len(problems)} data key(s) cannot be unwrapped by the current master key "
        f"(key {key_id(old_key)}), so nothing was re-wrapped:{shown}\n"
        f"hint: they were sealed under another master key. Put that key back in {where} "
        "and run again; if it is lost, destroy "
        "those secrets (reqflo secrets destroy NAME --env ENV) or set those schedules' "
        "webhook secrets again, then run again."
    )


def _new_key(path: Path | None) -> bytes:
    from reqflo.cloud.durable.keys import KEY_BYTES, SealError

    if path is not None:
        encoded = path.read_text(encoding="ascii").strip()
    else:
        encoded = os.environ.get(NEW_KEY_ENV, "").strip()
    if not encoded:
        return os.urandom(KEY_BYTES)
    key = base64.b64decode(encoded, validate=True)
    if len(key) != KEY_BYTES:
        raise SealError(f"the new master key must hold {KEY_BYTES} bytes, base64-encoded")
    return key


def _write_key(path: Path, key: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode("ascii") + "\n")
    os.chmod(path, 0o600)
