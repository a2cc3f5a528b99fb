"""A Reqflo project on disk: its root, environments, journeys, and what a run starts from.

Owns project discovery (the nearest folder above the journey with `environments/`,
`.reqflo/` or `reqflo.yaml`), environment files (`environments/NAME.yaml`: a mapping of
names to values), resolving the JOURNEY argument (a path, a journey name, or an
artifact id) to a verified artifact, and the merge of run values in the spec's order,
lowest first: input defaults, environment, case, `--set`, data row.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reqflo import run_cache
from reqflo.artifact import Artifact, ArtifactCache
from reqflo.diagnostics import ArtifactError, ReqfloError, did_you_mean
from reqflo.yaml_values import YamlValuesError, load_values

if TYPE_CHECKING:
    from reqflo.compiler import CheckResult

MARKERS = ("environments", ".reqflo", "reqflo.yaml")
ARTIFACT_ID = re.compile(r"^[0-9a-f]{6,64}$")
JOURNEY_NAME = re.compile(r"^journey\s*:", re.MULTILINE)


class UsageError(ReqfloError):
    """A command was given something that does not exist or does not fit (exit code 2)."""


@dataclass(frozen=True)
class Project:
    root: Path

    @classmethod
    def discover(cls, start: Path) -> Project:
        start = start.resolve()
        folder = start if start.is_dir() else start.parent
        for candidate in (folder, *folder.parents):
            if any((candidate / marker).exists() for marker in MARKERS):
                return cls(candidate)
        return cls(Path.cwd().resolve())

    @property
    def environments_dir(self) -> Path:
        return self.root / "environments"

    def environment_names(self) -> list[str]:
        if not self.environments_dir.is_dir():
            return []
        files = [*self.environments_dir.glob("*.yaml"), *self.environments_dir.glob("*.yml")]
        return sorted(p.stem for p in files)

    def environment(self, name: str) -> dict[str, Any]:
        """The values of `environments/NAME.yaml` (a flat mapping of names to values)."""
        for suffix in (".yaml", ".yml"):
            path = self.environments_dir / f"{name}{suffix}"
            if path.is_file():
                return _read_environment(path)
        names = self.environment_names()
        hint = did_you_mean(name, names) or (
            f"available: {', '.join(names)}"
            if names
            else f"create {self.environments_dir}/{name}.yaml with values such as base_url"
        )
        raise UsageError(f"environment '{name}' is not defined in {self.environments_dir}; {hint}")

    def journey_files(self) -> Iterator[Path]:
        for path in sorted([*self.root.rglob("*.yaml"), *self.root.rglob("*.yml")]):
            if _is_journey_file(path, self.root):
                yield path


def _read_environment(path: Path) -> dict[str, Any]:
    """The file's values. Its YAML is parsed once per distinct text (run_cache: ruamel.yaml
    alone costs a one-row run a noticeable share of its start-up); the rules of an
    environment file are checked on every read, cached or not."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the environment file: {exc}") from exc
    document: object = run_cache.cached_environment(text)
    if document is None:
        document = _parse_yaml(path, text)
        document = {} if document is None else document  # an empty file
        if isinstance(document, dict):
            run_cache.record_environment(text, document)
    if not isinstance(document, dict) or not all(isinstance(k, str) for k in document):
        raise UsageError(f"{path}: an environment file is a mapping of names to values")
    return document


def _parse_yaml(path: Path, text: str) -> object:
    try:
        return load_values(text)
    except YamlValuesError as exc:
        raise UsageError(f"{path}: cannot read the environment file: {exc}") from exc


def _is_journey_file(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    if any(p.startswith(".") or p in {"environments", "node_modules"} for p in parts[:-1]):
        return False
    try:
        return bool(JOURNEY_NAME.search(path.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return False


def resolve_journey(argument: str, cwd: Path) -> tuple[Artifact | None, CheckResult | None, Path]:
    """JOURNEY → (artifact, check result if compiled, project folder).

    A path compiles that file; an id (6+ hex digits) loads a cached artifact; anything
    else is a journey name searched in the project's journey files.
    """
    path = Path(argument)
    if path.is_file():
        return _compiled(path, cwd)
    if ARTIFACT_ID.match(argument) and not path.exists():
        try:
            artifact = ArtifactCache().get(argument)
        except ArtifactError as exc:
            raise UsageError(str(exc)) from exc
        return artifact, None, cwd
    return _compiled(_journey_by_name(argument, Project.discover(cwd)), cwd)


def _compiled(path: Path, cwd: Path) -> tuple[Artifact | None, CheckResult | None, Path]:
    """Compile the file, or reuse the artifact an identical earlier compile gave (the
    build index in run_cache: no compiler, journey parser or ruamel.yaml is imported)."""
    display, root = _display(path, cwd), Project.discover(path).root
    text = _journey_text(path)
    cached = run_cache.cached_build(display, text, ArtifactCache()) if text is not None else None
    if cached is not None:
        return cached, None, root
    from reqflo.compiler import check_file

    result = check_file(path, display)
    if result.artifact is not None:
        stored = ArtifactCache().store(result.artifact)
        if text is not None:
            run_cache.record_build(display, text, result.artifact, stored.sha256)
    return result.artifact, result, root


def _journey_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # the compiler reports it as before


def _display(path: Path, cwd: Path) -> str:
    try:
        return str(path.resolve().relative_to(cwd.resolve()))
    except ValueError:
        return str(path)


def _journey_by_name(name: str, project: Project) -> Path:
    names: dict[str, Path] = {}
    for path in project.journey_files():
        journey_name = _journey_name(path)
        if journey_name:
            names.setdefault(journey_name, path)
    if name in names:
        return names[name]
    hint = did_you_mean(name, names) or "give a path to the journey file"
    raise UsageError(
        f"'{name}' is not a file, an artifact id or a journey name in {project.root}; {hint}"
    )


def _journey_name(path: Path) -> str | None:
    try:
        document = load_values(path.read_text(encoding="utf-8"))
    except (YamlValuesError, OSError, UnicodeDecodeError):
        return None
    journey = document.get("journey") if isinstance(document, dict) else None
    name = journey.get("name") if isinstance(journey, dict) else None
    return name if isinstance(name, str) else None


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """`--set k=v` values; a missing `=` is a usage error."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects NAME=VALUE, got '{pair}'")
        values[key.strip()] = value
    return values


def base_values(
    artifact: Artifact, env: Mapping[str, Any], case: str | None, assignments: Mapping[str, Any]
) -> dict[str, Any]:
    """Run values before the data row: environment < case < --set (defaults come last,
    in the engine, for whatever is still unset)."""
    declared = {i.name for i in artifact.plan.inputs}
    values = {k: v for k, v in env.items() if k in declared}
    if case is not None:
        cases = artifact.plan.cases
        if case not in cases:
            hint = did_you_mean(case, cases) or (
                f"available: {', '.join(cases)}" if cases else "the journey declares no cases"
            )
            raise UsageError(f"case '{case}' is not defined; {hint}")
        values.update(cases[case])
    undeclared = sorted(set(assignments) - declared)
    if undeclared:
        name = undeclared[0]
        hint = did_you_mean(name, declared) or f"inputs: {', '.join(sorted(declared)) or 'none'}"
        raise UsageError(f"--set {name}: the journey has no input '{name}'; {hint}")
    values.update(assignments)
    return values


def local_identity(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`me` for local runs: the OS user, overridden by REQFLO_ME_<KEY> variables."""
    environ = os.environ if environ is None else environ
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    me = {"name": user, "user": user}
    prefix = "REQFLO_ME_"
    me.update({k[len(prefix) :].lower(): v for k, v in environ.items() if k.startswith(prefix)})
    return me
