"""Caches that let a repeat local run skip work whose inputs did not change.

Owns two caches under `$REQFLO_HOME/cache/` (default `~/.reqflo/cache/`), both keyed by
the SHA-256 of everything the cached result depends on, so they are never stale and
never need clearing (deleting them is always safe):

- `builds/<key[:2]>/<key>`: the id of the artifact that compiling a journey gave. The key
  covers the journey's text, the path shown for it (it is kept in the artifact's
  SourceInfo) and the compiler's fingerprint: the source of every module the compiler
  runs, Python's version and the distributions (name and version) installed where the
  packages it uses live (Pydantic, ruamel.yaml, python-jsonpath and jsonschema, which
  judge paths and schemas at compile time, rfc8785), so installing or upgrading any of
  them is a miss. Compiling reads no other file (multipart `file:` parts are read when
  the step runs), so a changed journey or a changed compiler is a miss. The entry also
  holds the SHA-256 of the artifact file that compile stored, and a hit is served only
  if that file is unchanged (the same plan id can be stored by another compile, e.g. of
  a reformatted copy, with other source positions), still verifies, and names this path
  and this text's SHA-256 (an entry is not written if the file changed while it
  compiled); anything else is a miss and the caller compiles as before, which stores
  the file and the entry anew.
- `environments/<key[:2]>/<key>`: what the YAML parser gave for an environment file's
  text (the key: the text and the parser's version), when it is a mapping of plain JSON
  data (a file holding dates or other YAML-only types is parsed every time): the SHA-256
  of the JSON on the first line, the JSON (ASCII) after it; an entry whose JSON does not
  match is a miss. Errors are never cached, and the reader checks the rules of an
  environment file on cached data too (`reqflo.project`), so they can change freely.

Files are written atomically with mode 0600; a cache that cannot be written is skipped.

Neither grows without bound: a hit touches the entry and the artifact it served (a
file's modification time is its last use), and a write (a miss, never a hit) runs the
daily prune of `reqflo.cache_prune`, which also removes the build entries of an artifact
it removes. A hit whose artifact file was pruned meanwhile is a miss, and compiles.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from reqflo.artifact import Artifact, ArtifactCache, loads, reqflo_home
from reqflo.diagnostics import ArtifactError

# The reqflo modules `import reqflo.compiler` loads (tests/test_startup.py checks the list).
COMPILER_MODULES = (
    "__init__.py",
    "artifact.py",
    "checks/__init__.py",
    "checks/assertions.py",
    "checks/display.py",
    "checks/operators.py",
    "checks/outputs.py",
    "checks/patterns.py",
    "checks/validation.py",
    "compiler.py",
    "compiler_plans.py",
    "compiler_resolve.py",
    "conversion.py",
    "diagnostics.py",
    "http.py",
    "values/__init__.py",
    "values/rendering.py",
    "values/rewrite.py",
    "values/syntax.py",
    "journey/__init__.py",
    "journey/assertion_rules.py",
    "journey/model.py",
    "journey/parser.py",
    "journey/prune.py",
    "journey/references.py",
    "journey/requests.py",
    "journey/semantics.py",
    "journey/source.py",
    "journey/step_rules.py",
)
PACKAGE = Path(__file__).resolve().parent


def cache_root() -> Path:
    return reqflo_home() / "cache"


@lru_cache(maxsize=1)
def yaml_fingerprint() -> str:
    """Python's and ruamel.yaml's versions, without importing ruamel.yaml."""
    from importlib.util import find_spec

    spec = find_spec("ruamel.yaml")
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    version = origin.read_bytes() if origin is not None and origin.is_file() else b"none"
    return hashlib.sha256(sys.version.encode() + b"\0" + version).hexdigest()


# Third-party packages a compile imports; every package it loads lives in their folders
# (tests/test_startup.py checks that), so `installed` covers their dependencies too.
COMPILER_DEPENDENCIES = ("jsonpath", "jsonschema", "pydantic", "pydantic_core", "rfc8785", "ruamel")


@lru_cache(maxsize=1)
def compiler_fingerprint() -> str:
    digest = hashlib.sha256(f"{sys.version}\0{installed(dependency_dirs())}".encode())
    for name in COMPILER_MODULES:
        digest.update(b"\0" + name.encode() + b"\0" + (PACKAGE / name).read_bytes())
    return digest.hexdigest()


def dependency_dirs() -> set[Path]:
    """The folders (site-packages) the compiler's third-party packages are imported from."""
    from importlib.util import find_spec

    folders = set()
    for name in COMPILER_DEPENDENCIES:
        spec = find_spec(name)
        for location in (spec.submodule_search_locations or ()) if spec else ():
            folders.add(Path(location).parent)
    return folders


def installed(folders: set[Path]) -> str:
    """The distributions (`name-version.dist-info`) installed in these folders."""
    found = []
    for folder in sorted(folders):
        with os.scandir(folder) as entries:
            found += sorted(e.name for e in entries if e.name.endswith((".dist-info", ".egg-info")))
    return "\0".join(found)


def build_key(display: str, text: str) -> str:
    """The build index key of a journey shown as `display` with this text."""
    key = f"build\0{compiler_fingerprint()}\0{display}\0{text}"
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _build_file(key: str) -> Path:
    return cache_root() / "builds" / key[:2] / key


def cached_build(display: str, text: str, artifacts: ArtifactCache) -> Artifact | None:
    """The artifact an earlier compile of exactly this journey stored, if the cache file
    still holds exactly what that compile wrote (and so still verifies)."""
    try:
        index = _build_file(build_key(display, text))
        artifact_id, _, digest = index.read_text(encoding="ascii").strip().partition(" ")
        stored = artifacts.path_for(artifact_id)
        content = stored.read_text(encoding="utf-8")  # pruned meanwhile: a miss
        if len(artifact_id) != 64 or _digest(content) != digest:
            return None
        artifact = loads(content)
        if artifact.id != artifact_id or not _describes(artifact, display, text):
            return None
    except (OSError, UnicodeDecodeError, ArtifactError):
        return None
    for used in (stored, index):  # as the compile's writes did: recent for `artifact
        ArtifactCache.touch(used)  # list` and for pruning
    return artifact


def record_build(display: str, text: str, artifact: Artifact, sha256: str) -> None:
    """Remember the artifact this journey compiled to, and the SHA-256 of the file
    ArtifactCache.store just wrote for it (`Stored.sha256`); not if the compiler read
    another text (the file changed since `text` was read)."""
    if not _describes(artifact, display, text):
        return
    try:
        path = _build_file(build_key(display, text))
    except OSError:  # the compiler's sources cannot be read (e.g. a zipped install)
        return
    if _write(path, f"{artifact.id} {sha256}"):
        _prune_if_due()


def _describes(artifact: Artifact, display: str, text: str) -> bool:
    return artifact.source.path == display and artifact.source.sha256 == _digest(text)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def cached_environment(text: str) -> dict[str, Any] | None:
    """The mapping `record_environment` stored for this text, if intact."""
    try:
        path = _environment_file(text)
        digest, _, data = path.read_text(encoding="ascii").partition("\n")
        found = json.loads(data) if _digest(data) == digest else None
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict):
        return None
    ArtifactCache.touch(path)
    return found


def record_environment(text: str, values: dict[str, Any]) -> None:
    """Remember the YAML parser's mapping for this text, if JSON gives it back exactly."""
    if _plain(values):
        data = json.dumps(values)  # ASCII: lone surrogates too
        if _write(_environment_file(text), f"{_digest(data)}\n{data}"):
            _prune_if_due()


def _environment_file(text: str) -> Path:
    key = hashlib.sha256(f"environment\0{yaml_fingerprint()}\0{text}".encode()).hexdigest()
    return cache_root() / "environments" / key[:2] / key


def _plain(value: Any) -> bool:
    """Data that JSON gives back exactly (no dates, sets, non-finite floats, ...)."""
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    if kind is float:
        return value == value and value not in (float("inf"), float("-inf"))
    return kind in (str, int, bool) or value is None


def _prune_if_due() -> None:
    """After a write (a miss), never on a hit: the daily prune (imported only then)."""
    from reqflo.cache_prune import prune_if_due

    prune_if_due(cache_root(), ArtifactCache())


def _write(path: Path, text: str) -> bool:
    """Atomically, owner-only; a cache that cannot be written is simply not used."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except (OSError, UnicodeEncodeError):
        tmp.unlink(missing_ok=True)
        return False
    return True
