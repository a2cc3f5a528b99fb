"""The run check never crashes: any text or YAML either compiles or reports problems."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reqflo.compiler import check_text

KEYS = [
    "journey",
    "name",
    "steps",
    "id",
    "request",
    "url",
    "method",
    "assertions",
    "type",
    "expected",
    "operator",
    "path",
    "outputs",
    "from",
    "inputs",
    "variables",
    "source",
    "templates",
    "template",
    "values",
    "retry",
    "attempts",
    "interval",
    "when",
    "json",
    "headers",
    "cases",
    "secret",
    "timeout",
    "schema",
    "form",
    "multipart",
    "graphql",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "{{ steps.a.outputs.x }}",
            "{{ inputs.",
            "$.a[*]",
            "$[",
            "5s",
            "GET",
            "status_code",
            "json_path",
            "equals",
            "(",
            "{{ uuid() }}",
            "a",
        ]
    ),
    st.text(max_size=20),
)
TREES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=5),
    ),
    max_leaves=30,
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_outcome(text: str) -> None:
    result = check_text(text, "fuzz.yaml")
    assert result.artifact is not None or result.errors
    result.render()


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str) -> None:
    _assert_outcome(text)


@FAST
@given(st.dictionaries(st.sampled_from(KEYS), TREES, max_size=6))
def test_arbitrary_journey_shaped_yaml_never_crashes(journey: dict[str, object]) -> None:
    _assert_outcome(json.dumps({"journey": journey}))


@FAST
@given(TREES, st.sampled_from(["steps", "inputs", "variables", "templates", "cases"]))
def test_arbitrary_sections_in_a_valid_journey_never_crash(tree: object, section: str) -> None:
    journey = {
        "name": "fuzz",
        "steps": [
            {
                "id": "a",
                "request": {"url": "http://127.0.0.1/"},
                "assertions": [{"type": "status_code", "expected": 200}],
            }
        ],
        section: tree,
    }
    _assert_outcome(json.dumps({"journey": journey}))
