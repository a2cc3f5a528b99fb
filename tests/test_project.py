"""Project discovery, run values and data-column warnings for local runs."""

from pathlib import Path

import pytest

from reqflo.compiler import check_text
from reqflo.local import unknown_columns
from reqflo.project import (
    Project,
    UsageError,
    base_values,
    local_identity,
    parse_assignments,
)

JOURNEY = """\
journey:
  name: values
  inputs:
    - {name: customer_id, required: true}
    - {name: quantity, type: integer, default: 1}
  cases:
    two: {quantity: 2}
  steps:
    - id: one
      request: {url: "http://127.0.0.1/{{ inputs.customer_id }}/{{ inputs.quantity }}"}
      assertions: [{type: status_code, expected: 200}]
"""


def _artifact():  # type: ignore[no-untyped-def]
    result = check_text(JOURNEY, "values.yaml")
    assert result.artifact is not None
    return result.artifact


def test_precedence_environment_then_case_then_set() -> None:
    env = {"customer_id": "from-env", "quantity": 9, "base_url": "http://x"}
    assert base_values(_artifact(), env, None, {}) == {"customer_id": "from-env", "quantity": 9}
    assert base_values(_artifact(), env, "two", {})["quantity"] == 2
    assert base_values(_artifact(), env, "two", {"quantity": "5"})["quantity"] == "5"


def test_unknown_case_and_undeclared_set_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="case 'tow' is not defined; did you mean 'two'"):
        base_values(_artifact(), {}, "tow", {})
    with pytest.raises(UsageError, match="no input 'quantiy'; did you mean 'quantity'"):
        base_values(_artifact(), {}, None, {"quantiy": "3"})


def test_assignments_need_an_equals_sign() -> None:
    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_assignments(["novalue"])


def test_environment_files_and_missing_environment(tmp_path: Path) -> None:
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "staging.yaml").write_text("base_url: http://s\n")
    (tmp_path / "sub").mkdir()
    project = Project.discover(tmp_path / "sub")
    assert project.root == tmp_path.resolve()
    assert project.environment("staging") == {"base_url": "http://s"}
    with pytest.raises(UsageError, match="did you mean 'staging'"):
        project.environment("stagign")


def test_me_comes_from_the_os_user_and_reqflo_me_variables() -> None:
    me = local_identity({"REQFLO_ME_EMAIL": "ada@example.test"})
    assert me["email"] == "ada@example.test"
    assert me["user"]


def test_unknown_data_columns_are_warned_about(tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("customer_id,quantitty,notes\nc-1,3,x\n")
    warnings = unknown_columns(_artifact(), rows)
    assert warnings == [
        "data column 'quantitty' is not an input of the journey; did you mean 'quantity'?",
        "data column 'notes' is not an input of the journey and is ignored",
    ]
