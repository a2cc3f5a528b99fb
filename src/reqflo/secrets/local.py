"""Secrets for local runs: process environment first, then a private secrets file.

Owns `LocalSecrets`, which resolves a secret NAME (as written in `{{ secrets.NAME }}`)
for one run environment, in this order:

1. the environment variable `REQFLO_SECRET_<NAME>` (NAME exactly as written; an empty
   variable counts as unset, since CI systems expand a missing secret to "");
2. `environments.<env>.<NAME>` of the secrets file, when the run has an environment;
3. the top-level `<NAME>` of the secrets file.

The secrets file defaults to `<project>/.reqflo/secrets.yaml` (git-ignored) and is
optional unless a path is given explicitly::

    ORDERS_API_TOKEN: "dev-token"         # every environment
    environments:                         # reserved key: per-environment overrides
      staging:
        ORDERS_API_TOKEN: "staging-token"

Values must be strings (quote them: YAML would turn `0012` into the number 12). The
file is refused unless only its owner can read or write it (mode 0600 or stricter);
the error gives the exact `chmod` command. No error message ever contains a value:
YAML errors report only a line and column, never the offending text. A secret that
is not found resolves to None; the runner turns that into a `missing-secret` error
naming the secret and the environment before any request is sent.
"""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Mapping
from pathlib import Path

from reqflo.diagnostics import SecretsFileError

ENV_PREFIX = "REQFLO_SECRET_"
DEFAULT_SECRETS_FILE = Path(".reqflo") / "secrets.yaml"
ENVIRONMENTS_KEY = "environments"


class LocalSecrets:
    """Resolves secrets for one local run; loads and checks the secrets file eagerly.

    Raises SecretsFileError when the file is unsafe (group/other access), unreadable,
    not valid YAML or not shaped as documented above.
    """

    def __init__(
        self,
        project_dir: Path,
        environment: str | None = None,
        *,
        secrets_file: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.environment = environment
        self.path = secrets_file if secrets_file is not None else project_dir / DEFAULT_SECRETS_FILE
        self._environ = os.environ if environ is None else environ
        document = _read_secrets_file(self.path, required=secrets_file is not None)
        self._file_values = _select_values(document, environment, self.path)

    def __repr__(self) -> str:  # never show the values
        return f"LocalSecrets(path={str(self.path)!r}, environment={self.environment!r})"

    def resolve(self, name: str) -> str | None:
        """The secret's value, or None when neither the environment nor the file has it."""
        from_env = self._environ.get(ENV_PREFIX + name)
        if from_env:
            return from_env
        return self._file_values.get(name)

    def names(self) -> set[str]:
        """Every secret name this instance can resolve."""
        prefixed = (key for key, value in self._environ.items() if value)
        from_env = {key[len(ENV_PREFIX) :] for key in prefixed if key.startswith(ENV_PREFIX)}
        return (from_env - {""}) | set(self._file_values)


def _read_secrets_file(path: Path, *, required: bool) -> object:
    """The parsed YAML document, or None when an optional file does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        if required:
            raise SecretsFileError(f"secrets file {path} does not exist") from None
        return None
    except OSError as error:
        raise SecretsFileError(f"cannot open secrets file {path}: {error.strerror}") from None
    from ruamel.yaml import YAML  # only when there is a file: ruamel costs start-up time
    from ruamel.yaml.error import YAMLError

    with os.fdopen(fd, encoding="utf-8") as handle:
        _check_private(path, os.fstat(handle.fileno()))
        try:
            return YAML(typ="safe", pure=True).load(handle)
        except (YAMLError, UnicodeDecodeError) as error:
            raise SecretsFileError(_yaml_problem(path, error)) from None
        except RecursionError:  # aliases referring to themselves, thousands of brackets
            raise SecretsFileError(f"secrets file {path}: it nests too deeply") from None
        except (ValueError, TypeError, OverflowError):  # e.g. a date like 2026-13-45
            raise SecretsFileError(f"secrets file {path}: a value cannot be read") from None


def _check_private(path: Path, status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise SecretsFileError(f"secrets file {path} is not a regular file")
    if os.name == "nt":  # POSIX modes do not describe Windows ACLs
        return
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077:
        raise SecretsFileError(
            f"secrets file {path} is accessible by other users (mode {mode:04o}); "
            f"it must be readable and writable by its owner only. "
            f"Fix it with: chmod 600 {shlex.quote(str(path))}"
        )


def _yaml_problem(path: Path, error: Exception) -> str:
    """Where the YAML is broken, without quoting any of it (it may hold a value)."""
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError

    kind = "a key is defined twice" if isinstance(error, DuplicateKeyError) else "invalid YAML"
    if isinstance(error, UnicodeDecodeError):
        kind = "not UTF-8 text"
    mark = error.problem_mark if isinstance(error, MarkedYAMLError) else None
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"secrets file {path}: {kind}{where}"


def _select_values(document: object, environment: str | None, path: Path) -> dict[str, str]:
    """Flat values overridden by the selected environment's section."""
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise SecretsFileError(f"secrets file {path}: must be a mapping of NAME: value")
    values = _string_mapping(document, path, "the top level", allow={ENVIRONMENTS_KEY})
    sections = _environment_sections(document, path)
    if environment is not None and environment in sections:
        values.update(sections[environment])
    return values


def _environment_sections(document: dict[object, object], path: Path) -> dict[str, dict[str, str]]:
    sections = document.get(ENVIRONMENTS_KEY)
    if sections is None:
        return {}
    if not isinstance(sections, dict):
        raise SecretsFileError(
            f"secrets file {path}: '{ENVIRONMENTS_KEY}' must map environment names to secrets"
        )
    where = f"'{ENVIRONMENTS_KEY}.%s'"
    return {
        str(env): _string_mapping(section, path, where % env, allow=set())
        for env, section in sections.items()
    }


def _string_mapping(node: object, path: Path, where: str, allow: set[str]) -> dict[str, str]:
    """NAME -> string value of a mapping, skipping the `allow`ed structural keys."""
    if not isinstance(node, dict):
        raise SecretsFileError(f"secrets file {path}: {where} must be a mapping of NAME: value")
    values: dict[str, str] = {}
    for key, value in node.items():
        if key in allow:
            continue
        if not isinstance(key, str) or not isinstance(value, str):
            raise SecretsFileError(
                f"secrets file {path}: secret {str(key)!r} in {where} must be a quoted string"
            )
        values[key] = value
    return values
