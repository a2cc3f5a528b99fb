"""The published JSON Schema is the one the models generate, and it accepts real journeys."""

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from reqflo.journey.model import journey_json_schema

ROOT = Path(__file__).parent.parent
PUBLISHED = ROOT / "docs" / "journey.schema.json"
VALID = sorted((ROOT / "tests" / "golden" / "valid").glob("*.yaml"))


def test_published_schema_is_up_to_date() -> None:
    assert json.loads(PUBLISHED.read_text()) == journey_json_schema(), (
        "regenerate with: reqflo schema > docs/journey.schema.json"
    )


def test_schema_is_a_valid_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(journey_json_schema())


@pytest.mark.parametrize("journey", VALID, ids=lambda p: p.stem)
def test_schema_accepts_valid_journeys(journey: Path) -> None:
    document = json.loads(json.dumps(YAML(typ="safe").load(journey.read_text())))
    jsonschema.Draft202012Validator(journey_json_schema()).validate(document)


def test_schema_rejects_unknown_keys() -> None:
    bad = {"journey": {"name": "x", "steps": [{"id": "a", "reqest": {}}]}}
    assert not jsonschema.Draft202012Validator(journey_json_schema()).is_valid(bad)
