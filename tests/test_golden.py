"""Golden journeys: valid ones compile to the stored artifact, invalid ones to the stored
problem text. The expected files are the specification of plans and messages; refresh
them with REQFLO_UPDATE_GOLDEN=1 after a deliberate change, and review the diff."""

import json
import os
from pathlib import Path

import pytest

from reqflo.artifact import plan_document
from reqflo.compiler import check_file

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("REQFLO_UPDATE_GOLDEN") == "1"


def _display(path: Path) -> str:
    return path.relative_to(GOLDEN).as_posix()


def _compare(expected_file: Path, actual: str) -> None:
    if UPDATE:
        expected_file.write_text(actual, encoding="utf-8")
    assert expected_file.exists(), f"missing {expected_file.name}; run with REQFLO_UPDATE_GOLDEN=1"
    assert actual == expected_file.read_text(encoding="utf-8")


@pytest.mark.parametrize("journey", sorted((GOLDEN / "valid").glob("*.yaml")), ids=lambda p: p.stem)
def test_valid_journey_compiles_to_golden_plan(journey: Path) -> None:
    result = check_file(journey, _display(journey))
    assert result.errors == [], result.render()
    assert result.artifact is not None
    document = {"id": result.artifact.id, "plan": plan_document(result.artifact.plan)}
    actual = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    _compare(journey.with_suffix(".artifact.json"), actual)


@pytest.mark.parametrize(
    "journey", sorted((GOLDEN / "invalid").glob("*.yaml")), ids=lambda p: p.stem
)
def test_invalid_journey_reports_golden_problems(journey: Path) -> None:
    result = check_file(journey, _display(journey))
    assert result.errors, "an invalid journey must report at least one error"
    assert result.artifact is None
    _compare(journey.with_suffix(".errors.txt"), result.render() + "\n")
