"""The journey document as typed, frozen models (spec §2).

Owns the shape of a journey file: which keys exist, their types and defaults, and
the value formats (durations, identifiers). Cross-field rules (references, operators
per assertion type, JSONPath and regex syntax) live in `journey.semantics`. The JSON
Schema published for editors is generated from these models.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from reqflo.artifact import AssertionType, InputType, Operator, OutputSource

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"


def parse_duration_ms(value: Any) -> int:
    """'250ms', '5s', '1.5s', '2m', '1h' → milliseconds; anything else is an error."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("a duration is text such as 250ms, 5s or 2m")
    if isinstance(value, int | float):
        raise ValueError(f"'{value}' has no unit: write {value}ms or {value}s")
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"'{value}' is not a duration: write 250ms, 5s, 2m or 1h")
    return round(float(match.group(1)) * _UNIT_MS[match.group(2)])


Duration = Annotated[
    int,
    BeforeValidator(parse_duration_ms),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h)$"}),
]
Identifier = Annotated[str, Field(pattern=IDENTIFIER)]
VariableSource = Literal["environment", "secret", "preset", "value", "input", "me"]


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class InputDecl(Node):
    name: Identifier
    type: InputType = "string"
    required: bool = False
    default: Any = None
    description: str | None = None


class VariableDecl(Node):
    """A journey-wide value. `value` alone means a preset; otherwise `source` says where
    it comes from: `environment` (key defaults to name), `secret` (the secret's name in
    `secret`), `input` (input name in `key`), `me` (attribute in `key`)."""

    name: Identifier
    source: VariableSource | None = None
    value: Any = None
    secret: str | None = None
    key: str | None = None
    description: str | None = None

    @property
    def effective_source(self) -> str:
        if self.source in (None, "value"):
            return "preset"
        return self.source


class BasicAuth(Node):
    username: str
    password: str


class OAuth2ClientCredentials(Node):
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None


class AuthSpec(Node):
    basic: BasicAuth | None = None
    bearer: str | None = None
    oauth2_client_credentials: OAuth2ClientCredentials | None = None


class GraphQLSpec(Node):
    query: str
    variables: dict[str, Any] = Field(default_factory=dict)
    operation_name: str | None = None


class RequestSpec(Node):
    """An HTTP request; in a template every key is optional and a step may override."""

    method: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    cookies: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    form: dict[str, Any] | None = None
    multipart: dict[str, Any] | None = None
    graphql: GraphQLSpec | None = None
    auth: AuthSpec | None = None
    timeout: Duration | None = None
    follow_redirects: bool | None = None
    verify_tls: bool | None = None


OutputFrom = OutputSource


class OutputSpec(Node):
    source: OutputFrom = Field(alias="from")
    path: str | None = None
    regex: str | None = None
    group: int | str = 1
    name: str | None = None
    secret: bool = False
    default: Any = None

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set


AssertionKind = AssertionType
OperatorName = Operator


class AssertionSpec(Node):
    type: AssertionKind
    operator: OperatorName | None = None
    expected: Any = None
    path: str | None = None
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")


class RetrySpec(Node):
    attempts: Annotated[int, Field(ge=1, le=1000)] = 3
    interval: Duration = 1000
    backoff: Literal["constant", "linear", "exponential"] = "constant"
    max_interval: Duration = 30_000
    until: Literal["assertions_pass", "status_ok"] = "assertions_pass"


class StepSpec(Node):
    id: Identifier
    name: str | None = None
    description: str | None = None
    type: Literal["http_request"] = "http_request"
    template: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    request: RequestSpec | None = None
    outputs: dict[str, OutputSpec] = Field(default_factory=dict)
    assertions: list[AssertionSpec] = Field(default_factory=list)
    retry: RetrySpec | None = None
    when: str | bool | None = None
    continue_on_failure: bool = False
    idempotent: bool = False
    idempotency_key: bool = False


class Journey(Node):
    name: Annotated[str, Field(min_length=1)]
    description: str | None = None
    version: str | None = None
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    inputs: list[InputDecl] = Field(default_factory=list)
    variables: list[VariableDecl] = Field(default_factory=list)
    cases: dict[str, dict[str, Any]] = Field(default_factory=dict)
    templates: dict[str, RequestSpec] = Field(default_factory=dict)
    steps: Annotated[list[StepSpec], Field(min_length=1)]


class JourneyFile(Node):
    journey: Journey


def journey_json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a journey file, for editors and CI linters."""
    schema = JourneyFile.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://reqflo.dev/schema/journey-1.json"
    schema["title"] = "Reqflo journey"
    _durations_as_text(schema)
    return schema


def _durations_as_text(node: Any) -> None:
    """Show duration defaults as written in YAML (`1000` → `"1000ms"`)."""
    if isinstance(node, dict):
        if node.get("pattern", "").endswith("(ms|s|m|h)$") and isinstance(node.get("default"), int):
            node["default"] = f"{node['default']}ms"
        for child in node.values():
            _durations_as_text(child)
    elif isinstance(node, list):
        for child in node:
            _durations_as_text(child)
