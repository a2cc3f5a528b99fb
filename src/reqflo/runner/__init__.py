"""The runner: executes a build artifact (and nothing else) over HTTP.

Modules, top to bottom:
- `engine`   — `RunContext`, `SecretSource`, `run_instance`, `run_group` (bounded
               concurrency, results streamed to a reporter, pre-flight checks).
- `step`     — one step: `when`, build, send, outputs, assertions, retry/backoff.
- `build`    — `RequestPlan` → `HttpRequest`: query, headers, cookies, bodies
               (json/text/form/multipart/graphql), auth (basic/bearer/OAuth2 client
               credentials with a per-run token cache).
- `preflight` — checks before any request: inputs, secrets, environment and `me` values.
- `inputs`   — typed conversion of run inputs with clear errors.
- `scope`    — the template roots `inputs`, `env`, `secrets`, `me`, `steps`.
- `evidence` — redacted, size-limited request/response/assertion records.
- `results`, `events` — the data the engine produces.

The default transport is `reqflo.http.AiohttpTransport`; any `reqflo.http.Transport`
can replace it.
"""

from reqflo.runner.build import OAuthTokens
from reqflo.runner.engine import (
    Emit,
    InstanceSpec,
    RunContext,
    SecretSource,
    run_group,
    run_instance,
)
from reqflo.runner.inputs import InputTypeError, convert_value, prepare_inputs

__all__ = [
    "Emit",
    "InputTypeError",
    "InstanceSpec",
    "OAuthTokens",
    "RunContext",
    "SecretSource",
    "convert_value",
    "prepare_inputs",
    "run_group",
    "run_instance",
]
