"""Build artifacts: the immutable, content-addressed execution plan of one journey version.

Owns the plan models (what the runner executes), canonical JSON, the artifact id
(SHA-256 of the canonical plan), verification and the local content-addressed cache
(`$REQFLO_HOME/artifacts`). Which cached artifact a journey's text compiled to, so that
a repeat run need not compile it again, is the build index in `reqflo.run_cache`.

Every string in a plan that may hold `{{ ... }}` is a template already resolved to
its source: `inputs.X`, `env.X`, `secrets.X`, `me.X`, `steps.ID...` or a literal. No
secret value and no run input is ever part of an artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import rfc8785
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reqflo.diagnostics import ArtifactError

SCHEMA_VERSION = 1

InputType = Literal["string", "integer", "number", "boolean", "json"]
BodyKind = Literal["json", "text", "form", "multipart", "graphql"]
OutputSource = Literal["body", "header", "status", "cookie", "url"]
AssertionType = Literal[
    "status_code", "json_path", "header", "body", "response_time", "json_schema", "output"
]
Operator = Literal[
    "equals",
    "not_equals",
    "exists",
    "not_exists",
    "contains",
    "not_contains",
    "matches",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "starts_with",
    "ends_with",
    "length",
    "is_type",
]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputPlan(Frozen):
    name: str
    type: InputType = "string"
    required: bool = False
    default: Any = None
    description: str | None = None


class MultipartPart(Frozen):
    """One multipart field: a template `value`, or a `file` path (relative to the journey)."""

    value: Any = None
    file: str | None = None
    filename: str | None = None
    content_type: str | None = None


class BodyPlan(Frozen):
    """The request body. `value` holds templates; its shape depends on `kind`:
    json: any JSON; text: a string; form: {name: value}; multipart: {name: MultipartPart};
    graphql: {"query": str, "variables": {...}, "operation_name": str|None}."""

    kind: BodyKind
    value: Any = None
    parts: dict[str, MultipartPart] = Field(default_factory=dict)


class AuthPlan(Frozen):
    kind: Literal["basic", "bearer", "oauth2_client_credentials"]
    username: str | None = None
    password: str | None = None
    token: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None


class RequestPlan(Frozen):
    method: str
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    cookies: dict[str, str] = Field(default_factory=dict)
    body: BodyPlan | None = None
    auth: AuthPlan | None = None
    timeout_ms: int = 30_000
    follow_redirects: bool = True
    verify_tls: bool = True


class OutputPlan(Frozen):
    name: str
    source: OutputSource
    path: str | None = None
    regex: str | None = None
    group: int | str = 1
    key: str | None = None
    secret: bool = False
    default: Any = None
    has_default: bool = False


class AssertionPlan(Frozen):
    type: AssertionType
    operator: Operator = "equals"
    expected: Any = None
    path: str | None = None
    key: str | None = None
    json_schema: dict[str, Any] | None = None


class RetryPlan(Frozen):
    attempts: int = 1
    interval_ms: int = 1000
    backoff: Literal["constant", "linear", "exponential"] = "constant"
    max_interval_ms: int = 30_000
    until: Literal["assertions_pass", "status_ok"] = "assertions_pass"


class StepPlan(Frozen):
    id: str
    name: str
    request: RequestPlan
    outputs: tuple[OutputPlan, ...] = ()
    assertions: tuple[AssertionPlan, ...] = ()
    retry: RetryPlan = Field(default_factory=RetryPlan)
    when: str | None = None
    continue_on_failure: bool = False
    idempotent: bool = False

    @property
    def safe_to_repeat(self) -> bool:
        return self.idempotent or self.request.method.upper() in SAFE_METHODS


class JourneyMeta(Frozen):
    name: str
    description: str | None = None
    version: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()


class Needs(Frozen):
    """Names (never values) a run must supply."""

    inputs: tuple[str, ...] = ()
    environment: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    me: tuple[str, ...] = ()


class Plan(Frozen):
    """The hashed part of an artifact: everything that changes behaviour."""

    schema_version: int = SCHEMA_VERSION
    journey: JourneyMeta
    inputs: tuple[InputPlan, ...] = ()
    cases: dict[str, dict[str, Any]] = Field(default_factory=dict)
    needs: Needs = Field(default_factory=Needs)
    steps: tuple[StepPlan, ...]


class SourceInfo(Frozen):
    """Where the plan came from; not hashed, so reformatting keeps the id.

    `positions` maps plan locations ("steps.0", "steps.0.assertions.2",
    "steps.0.outputs.token") to [line, column] in `path`.
    """

    path: str
    sha256: str
    positions: dict[str, tuple[int, int]] = Field(default_factory=dict)
    lines: dict[str, str] = Field(default_factory=dict)


class Artifact(Frozen):
    id: str
    plan: Plan
    source: SourceInfo

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def step_source(self, step_index: int, child: str = "") -> tuple[str, int, str] | None:
        """(file, line, source text) of a step or of one of its parts, if known."""
        key = f"steps.{step_index}{'.' + child if child else ''}"
        pos = self.source.positions.get(key)
        if pos is None:
            return None
        return self.source.path, pos[0], self.source.lines.get(key, "")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) canonical JSON: the same data gives the same bytes on every machine."""
    return bytes(rfc8785.dumps(value))


def plan_id(plan: Plan) -> str:
    return hashlib.sha256(canonical_json(plan_document(plan))).hexdigest()


def plan_document(plan: Plan) -> dict[str, Any]:
    return plan.model_dump(mode="json", exclude_none=False)


def seal(plan: Plan, source: SourceInfo) -> Artifact:
    return Artifact(id=plan_id(plan), plan=plan, source=source)


def dumps(artifact: Artifact) -> str:
    """The artifact file: pretty, key-sorted JSON (the id covers the plan only)."""
    doc = {"reqflo_artifact": SCHEMA_VERSION, **artifact.model_dump(mode="json")}
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def loads(text: str) -> Artifact:
    """Parse and verify an artifact; a tampered or malformed one raises ArtifactError."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"artifact is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.pop("reqflo_artifact", None) != SCHEMA_VERSION:
        raise ArtifactError("not a Reqflo artifact of schema version 1")
    try:
        artifact = Artifact.model_validate(doc)
    except ValidationError as exc:
        raise ArtifactError(f"malformed artifact: {exc.errors()[0]['msg']}") from exc
    actual = plan_id(artifact.plan)
    if actual != artifact.id:
        raise ArtifactError(
            f"artifact {artifact.id[:12]} failed verification: its plan hashes to {actual[:12]}"
        )
    return artifact


def reqflo_home() -> Path:
    return Path(os.environ.get("REQFLO_HOME") or Path.home() / ".reqflo")


@dataclass(frozen=True)
class Stored:
    """Where `ArtifactCache.store` wrote an artifact, and the SHA-256 of the bytes it wrote."""

    path: Path
    sha256: str


class ArtifactCache:
    """Content-addressed store: `<root>/<id[:2]>/<id>.json`, written atomically.

    A file's modification time is its last use (written, or read by `get` or the build
    index), which is what `reqflo cache prune` goes by (`reqflo.run_cache`). Pruning only
    removes files, never the `<id[:2]>` folders, so a concurrent `store` always finds its
    folder.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or reqflo_home() / "artifacts"

    def path_for(self, artifact_id: str) -> Path:
        return self.root / artifact_id[:2] / f"{artifact_id}.json"

    def put(self, artifact: Artifact) -> Path:
        return self.store(artifact).path

    def store(self, artifact: Artifact) -> Stored:
        """Write the artifact file (serialised once); its path and the SHA-256 of its bytes."""
        data = dumps(artifact).encode("utf-8")
        path = self.path_for(artifact.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return Stored(path, hashlib.sha256(data).hexdigest())

    def get(self, artifact_id: str) -> Artifact:
        path = self.resolve(artifact_id)
        try:
            artifact = loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:  # pruned since resolve() found it
            raise ArtifactError(f"no artifact {artifact_id} in {self.root}") from exc
        self.touch(path)  # a run by id is a use: `artifact list` and pruning go by it
        return artifact

    @staticmethod
    def touch(path: Path) -> None:
        """Mark a cache file as used now (best effort: a file pruned meanwhile is fine)."""
        with suppress(OSError):
            os.utime(path)

    def resolve(self, prefix: str) -> Path:
        """The file of the artifact whose id starts with `prefix` (at least 6 hex digits)."""
        if len(prefix) < 6 or any(c not in "0123456789abcdef" for c in prefix):
            raise ArtifactError(f"'{prefix}' is not an artifact id (6 to 64 hex digits)")
        found = sorted(self.root.glob(f"{prefix[:2]}/{prefix}*.json"))
        if not found:
            raise ArtifactError(f"no artifact {prefix} in {self.root}")
        if len(found) > 1:
            raise ArtifactError(f"artifact id prefix {prefix} is ambiguous; give more digits")
        return found[0]
