"""Pre-flight checks of one instance: everything that must hold before any request.

Owns `SecretSource` (where secret values come from), `CachedSecrets` (one resolution per
secret per run group), `resolve_secrets` and `check_setup`, which applies input defaults
and types and raises `RunSetupError` for the first kind of problem, in this order:
`missing-input`, `invalid-input`, `missing-secret` (naming the secret and the
environment, never a value), `missing-environment-value`, then a needed `me` value
(`missing-input`). Each message lists every name of its kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from reqflo.artifact import Plan
from reqflo.diagnostics import RunSetupError
from reqflo.runner.inputs import prepare_inputs


class SecretSource(Protocol):
    """Resolves a secret by name at execution time; None when it is not defined."""

    def resolve(self, name: str) -> str | None: ...


class CachedSecrets:
    """Resolves each secret once per run group (hits and misses alike)."""

    def __init__(self, source: SecretSource) -> None:
        self._source = source
        self._cache: dict[str, str | None] = {}

    def resolve(self, name: str) -> str | None:
        if name not in self._cache:
            self._cache[name] = self._source.resolve(name)
        return self._cache[name]


def resolve_secrets(names: Iterable[str], source: SecretSource) -> tuple[dict[str, str], list[str]]:
    """(name → value of every resolved secret, names that could not be resolved)."""
    resolved: dict[str, str] = {}
    missing: list[str] = []
    for name in names:
        value = source.resolve(name)
        if value is None:
            missing.append(name)
        else:
            resolved[name] = value
    return resolved, missing


def check_setup(
    plan: Plan,
    values: Mapping[str, Any],
    missing_secrets: list[str],
    *,
    environment: str | None,
    env: Mapping[str, Any],
    me: Mapping[str, Any],
    where: str = "",
) -> dict[str, Any]:
    """The instance's typed inputs; raises RunSetupError for the first problem found."""
    inputs = prepare_inputs(plan.inputs, values, where)
    label = f"environment '{environment}'" if environment else "no environment selected"
    if missing_secrets:
        plural = "s" if len(missing_secrets) > 1 else ""
        raise RunSetupError(
            f"secret{plural} {_names(missing_secrets)} could not be resolved ({label})",
            "missing-secret",
        )
    missing_env = [n for n in plan.needs.environment if env.get(n) is None]
    if missing_env:
        raise RunSetupError(
            f"{label} does not define {_names(missing_env)}", "missing-environment-value"
        )
    missing_me = [f"me.{n}" for n in plan.needs.me if me.get(n) is None]
    if missing_me:
        raise RunSetupError(
            f"{_names(missing_me)} is not known for the user running the journey",
            "missing-input",
        )
    return inputs


def _names(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)
