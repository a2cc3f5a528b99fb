"""`reqflo validate`, `build`, `artifact` and `schema` through the real CLI."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reqflo.cli import app

GOLDEN = Path(__file__).parent / "golden"
VALID = GOLDEN / "valid" / "spec_example.yaml"
INVALID = GOLDEN / "invalid" / "references.yaml"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REQFLO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_validate_valid_and_invalid() -> None:
    code, out = _cli("validate", str(VALID))
    assert code == 0 and "valid" in out
    code, out = _cli("validate", str(VALID), str(INVALID))
    assert code == 2
    assert "error[unknown-reference]: variable 'base_ur' is not declared" in out
    assert "did you mean 'base_url'?" in out


def test_validate_json_lists_every_problem() -> None:
    code, out = _cli("validate", "--json", str(INVALID))
    assert code == 2
    [report] = json.loads(out)
    codes = [p["code"] for p in report["problems"]]
    assert codes.count("unknown-reference") == 5 and "forward-reference" in codes
    assert all(p["line"] and p["column"] for p in report["problems"])


def test_validate_a_folder_finds_journeys_only(tmp_path: Path) -> None:
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "x.yaml").write_text("base_url: http://x\n")
    (tmp_path / "j.yaml").write_text(VALID.read_text())
    code, out = _cli("validate", str(tmp_path))
    assert code == 0 and "j.yaml" in out and "x.yaml" not in out


def test_build_stores_and_show_verifies(tmp_path: Path, home: Path) -> None:
    target = tmp_path / "a.json"
    code, out = _cli("build", str(VALID), "-o", str(target))
    assert code == 0
    artifact_id = json.loads(target.read_text())["id"]
    assert artifact_id in out
    assert (home / "artifacts" / artifact_id[:2] / f"{artifact_id}.json").is_file()
    code, out = _cli("artifact", "show", artifact_id[:8])
    assert code == 0 and json.loads(out)["id"] == artifact_id
    code, out = _cli("artifact", "list")
    assert artifact_id[:12] in out
    target.write_text(target.read_text().replace('"expected": 201', '"expected": 202'))
    code, out = _cli("artifact", "show", str(target))
    assert code == 2 and "failed verification" in out


def test_build_of_an_invalid_journey_exits_2() -> None:
    code, out = _cli("build", str(INVALID))
    assert code == 2 and "errors" in out


def test_schema_prints_the_published_schema() -> None:
    code, out = _cli("schema")
    published = json.loads((GOLDEN.parent.parent / "docs" / "journey.schema.json").read_text())
    assert code == 0 and json.loads(out) == published
