"""`reqflo cache ...`: the local caches (artifacts, build index, parsed environments).

Owns `path` (the two folders), `info` (what they hold, the pruning policy, the last
automatic prune) and `prune` (now, by the policy or by `--older-than` / `--max-size`, or
`--all`; `--dry-run` only says what would go). The policy and the pruning itself are
`reqflo.cache_prune`'s; nothing heavy is imported until a command runs (start-up time).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from reqflo.cli_output import fail as _fail

if TYPE_CHECKING:
    from reqflo.cache_prune import CacheFile, Policy

T = TypeVar("T")
KINDS = {"artifact": "artifact", "build": "build entry", "environment": "environment"}

cache_app = typer.Typer(
    help="The local caches: built artifacts, the build index, parsed environments.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


@cache_app.command("path")
def cache_path() -> None:
    """Print the two cache folders: the artifacts, then the build and environment caches."""
    from reqflo.artifact import ArtifactCache
    from reqflo.run_cache import cache_root

    typer.echo(f"{ArtifactCache().root}\n{cache_root()}")


@cache_app.command("info")
def cache_info(
    as_json: Annotated[bool, typer.Option("--json", help="Print it as JSON.")] = False,
) -> None:
    """What the caches hold, the pruning policy and when the automatic prune last ran."""
    from reqflo.artifact import ArtifactCache
    from reqflo.cache_prune import cache_files, last_prune, policy_from_env
    from reqflo.run_cache import cache_root

    artifacts, cache = ArtifactCache(), cache_root()
    files = [f for f in cache_files(cache, artifacts) if f.kind in KINDS]
    try:
        policy: Policy | str = policy_from_env()
    except ValueError as exc:
        policy = str(exc)
    doc: dict[str, object] = {
        "artifacts": str(artifacts.root),
        "cache": str(cache),
        **{kind: _totals([f for f in files if f.kind == kind]) for kind in KINDS},
        "least_recently_used": min((f.used_ns / 1e9 for f in files), default=None),
        "last_prune": last_prune(cache),
        "policy": policy if isinstance(policy, str) else asdict(policy),
    }
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    _print_info(doc, files)


def _totals(files: list[CacheFile]) -> dict[str, int]:
    return {"files": len(files), "bytes": sum(f.size for f in files)}


def _print_info(doc: dict[str, object], files: list[CacheFile]) -> None:
    out = typer.echo
    out(f"artifacts: {doc['artifacts']}\ncaches:    {doc['cache']}")
    for kind, label in KINDS.items():
        total = _totals([f for f in files if f.kind == kind])
        out(f"  {_plural(label):<14}{total['files']:>7}  {_size(total['bytes']):>9}")
    out(f"  {'total':<14}{len(files):>7}  {_size(sum(f.size for f in files)):>9}")
    oldest = doc["least_recently_used"]
    if isinstance(oldest, float):
        out(f"least recently used: {_when(oldest)}")
    policy = doc["policy"]
    out(f"policy: {_describe(policy) if isinstance(policy, dict) else 'invalid: ' + str(policy)}")
    stamp = doc["last_prune"]
    last = _when(stamp) if isinstance(stamp, float) else "never"
    out(f"automatic prune: at most once a day, after a compile (last: {last})")


def _describe(policy: dict[str, float | int | None]) -> str:
    age, size = policy["max_age"], policy["max_size"]
    kept = f"used in the last {age / 86_400:g} days" if age is not None else "any age"
    return f"keep files {kept}, at most {_size(size) if size is not None else 'any size'}"


def _size(n: float) -> str:
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("kB", "MB", "GB"):
        n /= 1000
        if n < 1000 or unit == "GB":
            break
    return f"{n:.3g} {unit}"


def _count(n: int, label: str) -> str:
    return f"{n} {label if n == 1 else _plural(label)}"


def _plural(label: str) -> str:
    return label[:-1] + "ies" if label.endswith("y") else label + "s"


def _when(timestamp: float) -> str:
    days = (time.time() - timestamp) / 86_400
    stamp = datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")
    return f"{stamp} ({days:.0f} days ago)" if days >= 1 else stamp


@cache_app.command("prune")
def cache_prune(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", help="Remove what was unused this long: 30d, 12h, 2w (or off)."
        ),
    ] = None,
    max_size: Annotated[
        str | None,
        typer.Option("--max-size", help="Then keep to this size, LRU first: 256MB, 1GB (or off)."),
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="Empty the caches.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be removed.")
    ] = False,
) -> None:
    """Prune the caches now: by REQFLO_CACHE_MAX_AGE / _MAX_SIZE (30d, 256MB) or the options."""
    from reqflo.artifact import ArtifactCache
    from reqflo.cache_prune import prune
    from reqflo.run_cache import cache_root

    policy = _policy(older_than, max_size)
    pruned = prune(policy, cache_root(), ArtifactCache(), everything=everything, dry_run=dry_run)
    counts = Counter(f.kind for f in pruned.removed)
    parts = [_count(counts[k], label) for k, label in KINDS.items()]
    freed = _size(sum(f.size for f in pruned.removed))
    kept = [f for f in pruned.kept if f.kind in KINDS]
    verb = "would remove" if dry_run else "removed"
    left = _size(sum(f.size for f in kept))
    typer.echo(f"{verb} {', '.join(parts)} ({freed}); kept {_count(len(kept), 'file')} ({left})")


def _policy(older_than: str | None, max_size: str | None) -> Policy:
    """The policy of the environment, with what the options give instead."""
    from reqflo.cache_prune import Policy, parse_age, parse_size, policy_from_env

    age = _option("--older-than", older_than, parse_age)
    size = _option("--max-size", max_size, parse_size)
    if older_than is not None and max_size is not None:
        return Policy(age, size)
    try:
        base = policy_from_env()
    except ValueError as exc:
        raise _fail(f"{exc}; or give --older-than and --max-size") from None
    return Policy(
        age if older_than is not None else base.max_age,
        size if max_size is not None else base.max_size,
    )


def _option(name: str, value: str | None, parse: Callable[[str], T]) -> T | None:
    try:
        return parse(value) if value is not None else None
    except ValueError as exc:
        raise _fail(f"{name}: {exc}") from None
