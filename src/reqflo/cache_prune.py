"""Pruning of the local caches: the artifact cache and run_cache's build index and
environment cache, which would otherwise only grow.

Owns the policy (`Policy`; by default a file unused for 30 days goes, and the caches keep
to 256 MB on disk in all, least recently used first; `REQFLO_CACHE_MAX_AGE` and
`REQFLO_CACHE_MAX_SIZE` change it, `off` lifts a limit), the daily automatic prune
(`prune_if_due`, which `reqflo.run_cache` runs after it writes, so after a compile but
never on a hit) and what `reqflo cache prune` and `cache info` show (`reqflo.cli_cache`).

A file's modification time is its last use: writes set it, and a hit (run_cache) or a
run by id (ArtifactCache.get) touches what it read. A build entry (`builds/*/<key>`,
starting with the id of the artifact it names) goes with that artifact, and one whose
artifact is missing goes too; environment entries (`environments/*/<key>`) stand alone.
The `last-prune` file's time says when the automatic prune last ran.

Safe beside a run: files only are removed (never the `<key[:2]>` folders, which a
concurrent write needs), build entries before the artifacts they name, a file used since
the scan is kept, and so is one used in the minute before it (`IN_USE`: not by age, size
or as an orphan; a build entry only with its artifact; anything by `everything`). So the
automatic prune never removes what the write that triggered it just produced, even
under a cap smaller than one artifact, nor a concurrent compile's build entry written
after the artifacts were scanned. A temporary file goes only when it is a day old (its
write died), and a run that finds an entry's artifact gone treats it as a miss and
compiles.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from reqflo.artifact import ArtifactCache

PRUNE_EVERY = 86_400.0  # seconds: the automatic prune runs at most once a day
TEMPORARY_AGE = 86_400.0  # a temporary file this old belongs to a write that died
IN_USE = 60.0  # seconds: a file used this recently (before the scan) may serve a run now
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9}
SIZE_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30}
T = TypeVar("T")
OFF = ("off", "none", "never")
AGE_HINT = "give e.g. 30d, 12h, 90m or 2w (a bare number is days), or off"
SIZE_HINT = "give e.g. 256MB, 2GB or 512KiB, or off"


@dataclass(frozen=True)
class Policy:
    """What pruning keeps: files used within `max_age` seconds, at most `max_size` bytes
    on disk in all (least recently used go first); None lifts a limit."""

    max_age: float | None
    max_size: int | None


@dataclass(frozen=True)
class CacheFile:
    """One file of the caches: kind (artifact, build, environment or temporary), size on
    disk, last use (modification time) and the artifact it is (or, for a build entry, names)."""

    path: Path
    kind: str
    size: int
    used_ns: int
    artifact_id: str = ""


@dataclass(frozen=True)
class Pruned:
    removed: tuple[CacheFile, ...]
    kept: tuple[CacheFile, ...]


def parse_age(text: str) -> float | None:
    """Seconds from "30d", "12h", "90m", "45s", "2w" or a bare number of days; None for off."""
    if text.strip().lower() in OFF:
        return None
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw]?)", text.strip().lower())
    if found is None:
        raise ValueError(f"{text!r} is not an age: {AGE_HINT}")
    return float(found[1]) * AGE_UNITS[found[2] or "d"]


def parse_size(text: str) -> int | None:
    """Bytes from "256MB", "2GB", "512KiB", "100B" (MB = 10^6, MiB = 2^20); None for off."""
    if text.strip().lower() in OFF:
        return None
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmg]i?b|b)", text.strip().lower())
    if found is None:
        raise ValueError(f"{text!r} is not a size: {SIZE_HINT}")
    return int(float(found[1]) * SIZE_UNITS[found[2]])


def policy_from_env() -> Policy:
    """REQFLO_CACHE_MAX_AGE (default 30d) and REQFLO_CACHE_MAX_SIZE (default 256MB);
    a bad value raises ValueError naming the variable."""
    return Policy(
        _setting("REQFLO_CACHE_MAX_AGE", "30d", parse_age),
        _setting("REQFLO_CACHE_MAX_SIZE", "256MB", parse_size),
    )


def _setting(variable: str, default: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(os.environ.get(variable) or default)
    except ValueError as exc:
        raise ValueError(f"{variable}: {exc}") from None


def last_prune(cache: Path) -> float | None:
    """When the automatic prune last ran (the time of the `last-prune` file)."""
    try:
        return (cache / "last-prune").stat().st_mtime
    except OSError:
        return None


def prune_if_due(cache: Path, artifacts: ArtifactCache) -> None:
    """After a cache write: prune by the policy unless that was done in the last day (a
    bad policy in the environment is left to `reqflo cache prune` to report)."""
    stamp = cache / "last-prune"
    last = last_prune(cache)
    if last is not None and 0 <= time.time() - last < PRUNE_EVERY:  # (clock set back: due)
        return
    try:
        policy = policy_from_env()
    except ValueError:
        return
    try:  # first: a concurrent write does not prune too
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()  # sets its time when it exists already
    except OSError:  # a cache that cannot be written is not pruned either
        return
    prune(policy, cache, artifacts)


def prune(
    policy: Policy,
    cache: Path,
    artifacts: ArtifactCache,
    *,
    everything: bool = False,
    dry_run: bool = False,
) -> Pruned:
    """Remove what the policy does not keep (everything, with `everything`); build entries
    go before the artifacts they name. Files used since the scan are kept."""
    started = time.time_ns()  # before the scan: what is written during it is newer
    files = cache_files(cache, artifacts)
    doomed = _doomed(files, policy, everything, started)
    order = sorted((f for f in files if f.path in doomed), key=lambda f: f.kind == "artifact")
    removed = tuple(f for f in order if dry_run or _remove(f))
    gone = {f.path for f in removed}
    return Pruned(removed, tuple(f for f in files if f.path not in gone))


def cache_files(cache: Path, artifacts: ArtifactCache) -> list[CacheFile]:
    """Every file of the artifact cache (`<id[:2]>/<id>.json`), the build index and the
    environment cache (`<key[:2]>/<key>`), and their temporary files (`*.tmp`)."""
    folders = {"artifact": artifacts.root, "build": cache / "builds"}
    folders["environment"] = cache / "environments"
    return [_scanned(p, stat, kind) for kind, f in folders.items() for p, stat in _two_down(f)]


def _two_down(folder: Path) -> list[tuple[Path, os.stat_result]]:
    """The files in the subfolders of `folder` with their stat (os.scandir: a cache of
    thousands of files is scanned in tens of milliseconds); files removed meanwhile left out."""
    found = []
    for sub in _listing(folder):
        if sub.is_dir(follow_symlinks=False):
            for entry in _listing(Path(sub.path)):
                try:
                    found.append((Path(entry.path), entry.stat(follow_symlinks=False)))
                except OSError:
                    continue
    return found


def _listing(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:  # no such folder (yet), or not readable
        return []


def _scanned(path: Path, stat: os.stat_result, kind: str) -> CacheFile:
    size = getattr(stat, "st_blocks", 0) * 512 or stat.st_size  # on disk, where known
    if path.name.endswith(".tmp"):
        return CacheFile(path, "temporary", size, stat.st_mtime_ns)
    named = path.name.removesuffix(".json") if kind == "artifact" else ""
    named = _named(path) if kind == "build" else named
    return CacheFile(path, kind, size, stat.st_mtime_ns, named)


def _named(entry: Path) -> str:
    """The artifact id a build entry names ("" if unreadable: the entry is then pruned)."""
    try:
        with open(entry, "rb") as handle:
            return handle.read(64).decode("ascii")
    except (OSError, UnicodeDecodeError):
        return ""


def _doomed(files: list[CacheFile], policy: Policy, everything: bool, now: int) -> set[Path]:
    dead_temporary = now - int(TEMPORARY_AGE * 1e9)
    doomed = {f.path for f in files if f.kind == "temporary" and f.used_ns < dead_temporary}
    kept = [f for f in files if f.kind != "temporary"]
    if everything:
        return doomed | {f.path for f in kept}
    in_use = now - int(IN_USE * 1e9)
    if policy.max_age is not None:
        too_old = min(in_use, now - int(policy.max_age * 1e9))
        doomed |= {f.path for f in kept if f.used_ns < too_old}
    doomed |= _orphans(kept, doomed, in_use)
    if policy.max_size is not None:
        left = [f for f in kept if f.path not in doomed]
        doomed |= _over_size(left, policy.max_size, in_use)
    return doomed


def _orphans(files: list[CacheFile], doomed: set[Path], in_use: int) -> set[Path]:
    """Build entries naming an artifact about to be removed, or one that is missing unless
    the entry was used since `in_use` (its artifact may have been written after the scan
    of the artifacts: a concurrent compile writes the artifact, then the entry)."""
    kept = {f.artifact_id: f.path not in doomed for f in files if f.kind == "artifact"}

    def orphan(entry: CacheFile) -> bool:
        if entry.artifact_id in kept:  # scanned: goes if its artifact goes
            return not kept[entry.artifact_id]
        return entry.used_ns < in_use

    return {f.path for f in files if f.kind == "build" and orphan(f)}


def _over_size(files: list[CacheFile], max_size: int, in_use: int) -> set[Path]:
    """Least recently used first, until the rest fit (an artifact with its build entries);
    never a file used since `in_use`, so the cap may stay exceeded."""
    naming: dict[str, list[CacheFile]] = {}
    for f in files:
        if f.kind == "build":
            naming.setdefault(f.artifact_id, []).append(f)
    total, doomed = sum(f.size for f in files), set[Path]()
    for oldest in sorted((f for f in files if f.used_ns < in_use), key=lambda f: f.used_ns):
        if total <= max_size:
            break
        going = [oldest, *naming.get(oldest.artifact_id, [])] if oldest.kind == "artifact" else []
        for f in going or [oldest]:
            if f.path not in doomed:
                doomed.add(f.path)
                total -= f.size
    return doomed


def _remove(file: CacheFile) -> bool:
    """Unlink, unless the file was used (touched or rewritten) since it was scanned."""
    try:
        if file.path.stat().st_mtime_ns != file.used_ns:
            return False
        file.path.unlink()
    except OSError:  # gone already, or not ours to remove
        return False
    return True
