"""`reqflo secrets ...`: cloud-managed secrets from the command line (admin tokens only).

Owns `set` (the value comes from a hidden prompt, asked twice, or from standard input
when it is not a terminal; never from an argument, so it stays out of shell history and
process lists), `list`, `versions`, `disable`, `destroy`, `audit` (with `--verify`) over
the Cloud Runner API, and `rotate-master-key`, which runs on the server machine against
its database: every data key is re-wrapped by the new master key (values untouched),
then `<data dir>/master.key` is replaced (a copy of the new key waits in
`master.key.new` until the database is done, so an interruption never loses it; a plain
rerun resumes an interrupted rotation with that key). A data key the current master key
cannot unwrap stops the rotation before anything is written, naming each such secret
version or schedule (exit code 2, with a hint). No command ever prints a value.
"""

from __future__ import annotations

import base64
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer
from rich.text import Text

from reqflo.cli_cloud import DATA_DIR_HELP, DB_HELP, _calling
from reqflo.cli_output import _console as _out
from reqflo.cli_output import fail as _fail

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
DESTROY_HINT = ("destroy those secrets (reqflo secrets destroy NAME --env ENV) or set those "
                "schedules' webhook secrets again, then run again.")  # fmt: skip


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
    again = f"reqflo secrets rotate-master-key --data-dir {config.data_dir}"
    rotation = Rotation(
        old_key, new_key, staged, given, again + (" --db <the same URL>" if db else "")
    )
    store = open_store(config)
    try:
        count = _rotate(store, rotation)
    finally:
        store.close()
    err = _out(stderr=True)
    err.print(Text(f"✔ {count} data keys re-wrapped with the new master key", "green"))
    if staged is None:
        err.print(f"now set {KEY_ENV} to the new key on every server and worker")
    else:
        staged.replace(key_path)
        _sync_folder(key_path.parent)  # the rename itself survives a power loss
        err.print(f"{key_path} now holds the new master key")


@dataclass(frozen=True)
class Rotation:
    """One `rotate-master-key`: the current key, the new one, where the new one is staged
    (None when the key comes from the environment), whether the operator gave the new key,
    and the command that runs it again (for hints)."""

    old_key: bytes
    new_key: bytes
    staged: Path | None
    given: bool
    command: str


Problem = tuple[str, str | None]  # what cannot be unwrapped (never a value), its key id


def _rotate(store: Store, rotation: Rotation) -> int:
    """Check that the old key unwraps every data key, then re-wrap them (schedules' webhook
    secrets, then the vault: one transaction each, both re-runnable). A data key the old
    key cannot unwrap stops the command before anything is written; the new key is staged
    in `rotation.staged` (when the key lives in a file) before the first write. A plain
    rerun after an interrupted rotation resumes it (`_resumed`)."""
    from reqflo.secrets.envelope import EnvelopeError, key_id
    from reqflo.store.schedule_secrets import rewrap_all
    from reqflo.store.secret_store import RotationRefused, SecretVault

    rotation, problems = _resumed(store, rotation)
    old_key, new_key, staged = rotation.old_key, rotation.new_key, rotation.staged
    vault = SecretVault(store, old_key)
    pending = _staged_key(staged)
    if problems:
        raise _refused(problems, rotation, pending)
    wrote = staged is not None and pending != new_key and _write_key(staged, new_key)
    try:
        count = rewrap_all(store, old_key, new_key)
    except EnvelopeError as exc:  # key id matches, yet it does not open: tampered or moved
        if wrote and staged is not None:  # (never a staged key data may be wrapped by)
            staged.unlink(missing_ok=True)
        stray: list[Problem] = [
            ("a schedule's webhook secret (tampered or moved)", key_id(old_key))
        ]
        raise _refused(stray, rotation, None if wrote else pending) from exc
    try:
        return count + vault.rotate_master_key(new_key, "cli rotate-master-key")
    except RotationRefused as exc:  # written under another key since the check just above
        again = f" with --new-key-file {staged}" if staged else f" with the same {NEW_KEY_ENV}"
        raise _fail(f"{exc}. The webhook secrets were re-wrapped already: destroy those "
                    f"secrets, then run again{again}") from exc  # fmt: skip


def _resumed(store: Store, rotation: Rotation) -> tuple[Rotation, list[Problem]]:
    """The rotation to run and what it cannot unwrap. When every data key the current key
    cannot unwrap is wrapped by the key an interrupted rotation staged in master.key.new,
    and no new key was given, the rotation resumes with that key: exactly what the
    interrupted run would have done (re-wrapped keys are skipped)."""
    from dataclasses import replace

    from reqflo.secrets.envelope import key_id

    problems = _problems(store, rotation.old_key, rotation.new_key)
    pending = _staged_key(rotation.staged)
    if not problems or pending is None or rotation.given:
        return rotation, problems
    if any(wrapped_by != key_id(pending) for _, wrapped_by in problems):
        return rotation, problems
    _out(stderr=True).print(
        f"resuming the rotation interrupted earlier: its new master key, staged in "
        f"{rotation.staged} (key {key_id(pending)}), is the new key"
    )
    resumed = replace(rotation, new_key=pending)
    return resumed, _problems(store, resumed.old_key, resumed.new_key)


def _problems(store: Store, old_key: bytes, new_key: bytes) -> list[Problem]:
    from reqflo.store.secret_store import SecretVault

    vault = SecretVault(store, old_key)
    problems = [(str(p), p.key_id) for p in vault.rotation_problems(new_key)]
    return problems + _stray_webhook_secrets(store, old_key, new_key)


def _stray_webhook_secrets(store: Store, old_key: bytes, new_key: bytes) -> list[Problem]:
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
    return [(f"the webhook secret of schedule '{name}' (wrapped by key {wrapped_by})", wrapped_by)
            for name, wrapped_by in rows if wrapped_by and wrapped_by not in known]  # fmt: skip


def _refused(problems: list[Problem], rotation: Rotation, pending: bytes | None) -> typer.Exit:
    """Exit code 2 naming each data key the rotation cannot unwrap, with a hint per cause:
    the key an interrupted rotation staged, a damaged data key, another master key."""
    from reqflo.secrets.envelope import key_id

    shown = "".join(f"\n  - {p}" for p, _ in problems[:SHOWN_PROBLEMS])
    if len(problems) > SHOWN_PROBLEMS:
        shown += f"\n  … and {len(problems) - SHOWN_PROBLEMS} more"
    current = key_id(rotation.old_key)
    staged_id = key_id(pending) if pending not in (None, rotation.old_key) else None
    staged = sum(wrapped_by == staged_id for _, wrapped_by in problems)
    damaged = sum(wrapped_by == current for _, wrapped_by in problems)
    hints = []
    if staged or (staged_id and pending == rotation.new_key):
        hints.append(_interrupted_hint(rotation, staged_id, staged, len(problems)))
    if damaged:
        them = "it" if damaged == 1 else "them"
        hints.append(f"hint: {_which(damaged, len(problems))} wrapped by the current key, "
                     f"which cannot open {them} (damaged, or copied from another row): "
                     + DESTROY_HINT)  # fmt: skip
    if staged + damaged < len(problems):
        hints.append(_sealed_elsewhere_hint(rotation, others=bool(staged + damaged)))
    return _fail(
        f"{len(problems)} data key(s) cannot be unwrapped by the current master key "
        f"(key {current}), so nothing was re-wrapped:{shown}\n" + "\n".join(hints)
    )


def _which(count: int, all_: int) -> str:
    if count == all_:
        return "it is" if count == 1 else "they are"
    return f"{count} of them {'is' if count == 1 else 'are'}" if count else "other data keys are"


def _interrupted_hint(rotation: Rotation, staged_id: str | None, staged: int, all_: int) -> str:
    """An earlier rotation died after re-wrapping data keys with the key it staged in
    master.key.new: that file must stay, and finishing that rotation is the way on."""
    first = "" if staged == all_ else f"once {'the others' if staged else 'these'} are dealt with, "
    return (
        f"hint: an earlier rotation was interrupted: {_which(staged, all_)} wrapped by the "
        f"new key it staged in {rotation.staged} (key {staged_id}). Keep that file, and do "
        "not copy it over master.key (the data keys still wrapped by the current key need "
        f"that one); {first}finish that rotation with:\n  {rotation.command} "
        f"--new-key-file {rotation.staged}\nthen rotate again if you want another key."
    )


def _sealed_elsewhere_hint(rotation: Rotation, others: bool) -> str:
    from reqflo.cloud.durable.keys import KEY_ENV, KEY_FILE

    staged = rotation.staged
    where = str(staged.with_name(KEY_FILE)) if staged else KEY_ENV
    interrupted = "" if staged else (
        f" (or, if an earlier rotation was interrupted, run again with the same "
        f"{NEW_KEY_ENV} it was given)"
    )  # fmt: skip
    return (
        f"hint: {'the others' if others else 'they'} were sealed under another master key. "
        f"Put that key back in {where} and run again{interrupted}; if it is lost, " + DESTROY_HINT
    )


def _staged_key(staged: Path | None) -> bytes | None:
    """The key an earlier run staged in master.key.new, if that file holds one."""
    from reqflo.cloud.durable.keys import KEY_BYTES

    try:
        if staged is None or not staged.exists():
            return None
        key = base64.b64decode(staged.read_text(encoding="ascii").strip(), validate=True)
    except (OSError, ValueError):
        return None
    return key if len(key) == KEY_BYTES else None


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


def _write_key(path: Path, key: bytes) -> bool:
    """Owner-only, and on disk (fsync) before any data key is wrapped by it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode("ascii") + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o600)
    _sync_folder(path.parent)
    return True


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so a file created or renamed in it is on disk too."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
