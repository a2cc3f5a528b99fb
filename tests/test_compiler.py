"""The compiler's contract: stable content ids, no run values inside, verified loading."""

from pathlib import Path

import pytest

from reqflo import artifact
from reqflo.compiler import check_text
from reqflo.diagnostics import ArtifactError

BASE = """\
journey:
  name: Orders
  inputs:
    - {name: customer_id, required: true}
    - {name: quantity, type: integer, default: 1}
  variables:
    - {name: base_url, source: environment}
    - {name: token, source: secret, secret: ORDERS_TOKEN}
  steps:
    - id: create
      request:
        method: POST
        url: "{{ variables.base_url }}/orders"
        headers: {Authorization: "Bearer {{ variables.token }}", Accept: application/json}
        json: {customer: "{{ inputs.customer_id }}", quantity: "{{ inputs.quantity }}"}
      outputs:
        order_id: {from: body, path: "$.order.id"}
      assertions:
        - {type: status_code, expected: 201}
"""

REFORMATTED = """\
# the same journey, with comments, other key order and block style
journey:
  steps:
    - request:
        json:
          quantity: "{{ inputs.quantity }}"
          customer: "{{ inputs.customer_id }}"
        headers:
          Accept: application/json
          Authorization: "Bearer {{ variables.token }}"   # secret, resolved at run time
        url: "{{ variables.base_url }}/orders"
        method: POST
      id: create
      assertions:
        - expected: 201
          type: status_code
      outputs:
        order_id:
          path: "$.order.id"
          from: body
  variables:
    - name: base_url
      source: environment
    - {secret: ORDERS_TOKEN, source: secret, name: token}
  inputs:
    - {name: customer_id, required: true}
    - {default: 1, name: quantity, type: integer}
  name: Orders
"""


def _compile(text: str) -> artifact.Artifact:
    result = check_text(text, "orders.yaml")
    assert not result.errors, result.render()
    assert result.artifact is not None
    return result.artifact


def test_same_journey_compiles_to_same_id() -> None:
    assert _compile(BASE).id == _compile(BASE).id


def test_reformatting_keeps_the_id_but_not_the_source_hash() -> None:
    first, second = _compile(BASE), _compile(REFORMATTED)
    assert first.id == second.id
    assert first.source.sha256 != second.source.sha256


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("expected: 201", "expected: 200"),
        ('path: "$.order.id"', 'path: "$.order.uid"'),
        ("method: POST", "method: PUT"),
        ("/orders", "/order"),
        ("default: 1", "default: 2"),
        ("Accept: application/json", "Accept: text/plain"),
        ("name: Orders", "name: Orders v2"),
        ("secret: ORDERS_TOKEN", "secret: OTHER_TOKEN"),
        ("required: true", "required: false"),
    ],
)
def test_any_semantic_change_changes_the_id(old: str, new: str) -> None:
    assert old in BASE
    assert _compile(BASE).id != _compile(BASE.replace(old, new, 1)).id


def test_artifact_names_what_a_run_needs_without_values() -> None:
    plan = _compile(BASE).plan
    assert plan.needs.secrets == ("ORDERS_TOKEN",)
    assert plan.needs.environment == ("base_url",)
    assert plan.needs.inputs == ("customer_id", "quantity")
    request = plan.steps[0].request
    assert request.headers["Authorization"] == "Bearer {{ secrets.ORDERS_TOKEN }}"
    assert request.url == "{{ env.base_url }}/orders"


def test_no_secret_value_or_run_input_is_baked_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQFLO_SECRET_ORDERS_TOKEN", "canary-5ecret-value")
    monkeypatch.setenv("customer_id", "canary-input")
    text = artifact.dumps(_compile(BASE))
    assert "canary" not in text


def test_artifact_round_trips_and_verifies() -> None:
    built = _compile(BASE)
    loaded = artifact.loads(artifact.dumps(built))
    assert loaded == built


def test_tampered_artifact_is_rejected() -> None:
    text = artifact.dumps(_compile(BASE)).replace('"expected": 201', '"expected": 500')
    with pytest.raises(ArtifactError, match="failed verification"):
        artifact.loads(text)


@pytest.mark.parametrize("text", ["{", "[]", '{"reqflo_artifact": 1, "id": "x"}'])
def test_malformed_artifact_is_rejected(text: str) -> None:
    with pytest.raises(ArtifactError):
        artifact.loads(text)


def test_cache_stores_by_content_and_resolves_prefixes(tmp_path: Path) -> None:
    cache = artifact.ArtifactCache(tmp_path)
    built = _compile(BASE)
    path = cache.put(built)
    assert path.name == f"{built.id}.json"
    assert cache.get(built.id[:10]) == built
    with pytest.raises(ArtifactError, match="no artifact"):
        cache.get("abcdef0")
    with pytest.raises(ArtifactError, match="not an artifact id"):
        cache.get("xyz")


def test_template_values_and_variables_resolve_to_sources() -> None:
    text = """\
journey:
  name: templated
  inputs: [{name: sku}]
  variables:
    - {name: host, source: environment, key: HOST}
    - {name: region, value: eu-west}
    - {name: api, value: "{{ variables.host }}/{{ variables.region }}"}
  templates:
    create:
      method: POST
      url: "{{ variables.api }}/items"
      json: {sku: "{{ values.sku }}", region: "{{ variables.region }}", tags: "{{ values.tags }}"}
  steps:
    - id: one
      template: create
      values: {sku: "{{ inputs.sku }}", tags: [a, b]}
      request: {headers: {X-Trace: "t-{{ uuid() }}"}}
      assertions: [{type: status_code, expected: 201}]
"""
    request = _compile(text).plan.steps[0].request
    assert request.method == "POST"
    assert request.url == "{{ env.HOST }}/eu-west/items"
    assert request.headers == {"X-Trace": "t-{{ uuid() }}"}
    assert request.body is not None
    assert request.body.value == {
        "sku": "{{ inputs.sku }}",
        "region": "eu-west",
        "tags": ["a", "b"],
    }


def test_source_positions_point_at_steps_and_assertions() -> None:
    built = _compile(BASE)
    assert built.step_source(0) == ("orders.yaml", 10, "- id: create")
    assert built.step_source(0, "assertions.0") == (
        "orders.yaml",
        19,
        "- {type: status_code, expected: 201}",
    )


def test_a_step_name_is_literal_text_even_with_braces() -> None:
    """Found by fuzzing: `name: "{{ }}"` crashed `reqflo validate` with a traceback (the
    compiler parsed every string of a step as a template, names included)."""
    text = BASE.replace("    - id: create\n", '    - id: create\n      name: "{{ }} and {{"\n')
    assert _compile(text).plan.steps[0].name == "{{ }} and {{"


@pytest.mark.parametrize("number", ["9007199254740992", "-9007199254740993", "1" + "0" * 400])
def test_an_integer_json_cannot_carry_exactly_is_an_error_with_its_place(number: str) -> None:
    """Found by fuzzing: it crashed the compiler (RFC 8785 refuses it while hashing)."""
    text = BASE.replace('quantity: "{{ inputs.quantity }}"', f"quantity: {number}")
    result = check_text(text, "orders.yaml")
    assert result.artifact is None and [d.code for d in result.errors] == ["number-range"]
    rendered = result.render()
    assert "orders.yaml:" in rendered and "quote a larger one to send it as text" in rendered
    assert _compile(text.replace(f"quantity: {number}", "quantity: 9007199254740991"))
