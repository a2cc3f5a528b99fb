"""Local secrets: environment first, then the private per-environment secrets file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reqflo.diagnostics import SecretsFileError
from reqflo.secrets import LocalSecrets

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")

SECRETS_YAML = """\
API_TOKEN: "flat-token-value"
DB_PASSWORD: "flat-db-value"
environments:
  staging:
    API_TOKEN: "staging-token-value"
  prod: {}
"""
VALUES = ("flat-token-value", "flat-db-value", "staging-token-value")


def write_secrets(project: Path, text: str, mode: int = 0o600) -> Path:
    path = project / ".reqflo" / "secrets.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_environment_variable_wins_over_the_file(tmp_path: Path) -> None:
    write_secrets(tmp_path, SECRETS_YAML)
    environ = {"REQFLO_SECRET_API_TOKEN": "from-env", "REQFLO_SECRET_DB_PASSWORD": ""}
    secrets = LocalSecrets(tmp_path, "staging", environ=environ)
    assert secrets.resolve("API_TOKEN") == "from-env"
    assert secrets.resolve("DB_PASSWORD") == "flat-db-value"  # empty variable counts as unset


def test_environment_section_overrides_flat_values(tmp_path: Path) -> None:
    write_secrets(tmp_path, SECRETS_YAML)
    assert LocalSecrets(tmp_path, "staging", environ={}).resolve("API_TOKEN") == (
        "staging-token-value"
    )
    assert LocalSecrets(tmp_path, "prod", environ={}).resolve("API_TOKEN") == "flat-token-value"
    assert LocalSecrets(tmp_path, None, environ={}).resolve("API_TOKEN") == "flat-token-value"


def test_missing_secret_is_none_and_names_lists_every_source(tmp_path: Path) -> None:
    write_secrets(tmp_path, SECRETS_YAML)
    environ = {"REQFLO_SECRET_EXTRA": "x", "REQFLO_SECRET_EMPTY": "", "HOME": "/h"}
    secrets = LocalSecrets(tmp_path, "staging", environ=environ)
    assert secrets.resolve("NOPE") is None
    assert secrets.resolve("environments") is None
    assert secrets.names() == {"API_TOKEN", "DB_PASSWORD", "EXTRA"}


def test_without_a_secrets_file_only_the_environment_is_used(tmp_path: Path) -> None:
    secrets = LocalSecrets(tmp_path, "dev", environ={"REQFLO_SECRET_A": "1"})
    assert secrets.resolve("A") == "1"
    assert secrets.names() == {"A"}
    with pytest.raises(SecretsFileError, match="does not exist"):
        LocalSecrets(tmp_path, secrets_file=tmp_path / "elsewhere.yaml", environ={})


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o666])
def test_file_accessible_by_others_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = write_secrets(tmp_path, SECRETS_YAML, mode)
    with pytest.raises(SecretsFileError) as raised:
        LocalSecrets(tmp_path, "staging", environ={})
    message = str(raised.value)
    assert f"chmod 600 {path}" in message
    assert f"{mode:04o}" in message
    assert not any(value in message for value in VALUES)


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_file_is_accepted(tmp_path: Path, mode: int) -> None:
    write_secrets(tmp_path, SECRETS_YAML, mode)
    assert LocalSecrets(tmp_path, environ={}).resolve("DB_PASSWORD") == "flat-db-value"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('TOKEN: "s3cr3t-one\n  bad: [\n', "invalid YAML at line"),
        ('TOKEN: "s3cr3t-one"\nTOKEN: "s3cr3t-two"\n', "defined twice"),
        ("PIN: 1234567\n", "'PIN' in the top level must be a quoted string"),
        ("- s3cr3t-one\n", "must be a mapping"),
        ("environments: s3cr3t-one\n", "'environments' must map"),
        ("environments:\n  dev: [s3cr3t-one]\n", "'environments.dev' must be a mapping"),
    ],
)
def test_malformed_file_errors_never_quote_a_value(
    tmp_path: Path, text: str, expected: str
) -> None:
    write_secrets(tmp_path, text)
    with pytest.raises(SecretsFileError, match=expected) as raised:
        LocalSecrets(tmp_path, "dev", environ={})
    message = str(raised.value)
    assert "s3cr3t" not in message and "1234567" not in message
    assert raised.value.__context__ is None or raised.value.__suppress_context__  # no chained text


def test_repr_never_shows_values(tmp_path: Path) -> None:
    write_secrets(tmp_path, SECRETS_YAML)
    secrets = LocalSecrets(tmp_path, "staging", environ={"REQFLO_SECRET_X": "env-value"})
    assert not any(value in repr(secrets) for value in (*VALUES, "env-value"))
