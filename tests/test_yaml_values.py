"""YAML data read as JSON values (reqflo.yaml_values): environment files, local secrets
files and form fields. Found by fuzzing environment files: an alias referring to itself,
thousands of brackets, a 5,000-digit integer or a date like 2026-13-45 crashed `reqflo run
--env` and `reqflo env push` (RecursionError, ValueError); dates, binary and sets went on
as Python objects that JSON bodies and the service cannot take."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reqflo.project import UsageError, _read_environment
from reqflo.secrets.local import LocalSecrets, SecretsFileError
from reqflo.yaml_values import YamlValuesError, load_values


def test_json_values_pass_and_dates_become_their_iso_text() -> None:
    text = "a: 1\nb: [x, {c: true}]\nwhen: 2026-01-02\nat: 2026-01-02T03:04:05Z\nn: null\n"
    assert load_values(text) == {
        "a": 1, "b": ["x", {"c": True}], "when": "2026-01-02",
        "at": "2026-01-02T03:04:05+00:00", "n": None,
    }  # fmt: skip
    assert load_values("") is None and load_values('{"j": [1.5]}') == {"j": [1.5]}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: &x [*x]\n", "nests deeper than 64 levels or refers to itself"),
        ("a: " + "[" * 600 + "]" * 600 + "\n", "nests deeper than 64 levels"),
        ("n: " + "9" * 5000 + "\n", "a value cannot be read"),
        ("d: 2026-13-45\n", "a value cannot be read"),
        ("b: !!binary aGk=\n", "a bytes value is not JSON (quote it as text)"),
        ("s: !!set {a, b}\n", "a set value is not JSON"),
        ("x: .nan\n", "nan is not a JSON number"),
        ("a: 1\n  b: [\n", "line 2: invalid YAML"),
    ],
)
def test_what_json_cannot_carry_is_refused_with_a_reason(text: str, problem: str) -> None:
    with pytest.raises(YamlValuesError) as caught:
        load_values(text)
    assert problem in str(caught.value)


def test_a_looping_environment_file_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQFLO_HOME", str(tmp_path / "home"))
    path = tmp_path / "env.yaml"
    path.write_text("base_url: http://127.0.0.1\nloop: &x [*x]\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"env\.yaml: cannot read the environment file: it nests"):
        _read_environment(path)


@pytest.mark.parametrize("text", ["TOKEN: " + "[" * 600 + "]" * 600, "TOKEN: 2026-13-45"])
def test_a_secrets_file_too_deep_or_unreadable_says_so_without_its_values(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    with pytest.raises(SecretsFileError) as caught:
        LocalSecrets(tmp_path, secrets_file=path)
    message = str(caught.value)
    assert message.startswith(f"secrets file {path}: ") and "2026-13-45" not in message
