"""The run check never crashes: any text or YAML either compiles or reports problems."""

import json
from pathlib import Path

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
    st.integers(),  # beyond 2**53 too: JSON cannot carry those exactly
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
            "{{ }}",
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


EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.yaml"))
ODD = ["", "null", "[]", "{}", "{{ }}", '"{{"', "2" * 60, "-9007199254740993", ".inf", ".nan",
       "!!binary aGk=", "&a x", "*a", "? k\n: v", "|\n  text", "yes", "12:30", "0x1F"]  # fmt: skip
FREE = ("json:", "expected:", "name:", "default:", "description:", "- {type:")
EDITS = st.lists(
    st.tuples(
        st.sampled_from(["value", "free", "drop", "copy", "indent"]),
        st.integers(0, 10_000),
        st.sampled_from(ODD),
        st.integers(0, 10_000),
    ),
    min_size=1,
    max_size=4,
)


def _edited(lines: list[str], edits: list[tuple[str, int, str, int]]) -> str:
    for kind, at, odd, other in edits:
        if not lines:
            break
        i = at % len(lines)
        free = [n for n, line in enumerate(lines) if line.lstrip().startswith(FREE)]
        if kind == "free" and free:  # a key whose value may be anything: bodies, names...
            i = free[at % len(free)]
        if kind in ("value", "free") and ":" in lines[i]:
            lines[i] = f"{lines[i].partition(':')[0]}: {odd}"
        elif kind == "drop":
            del lines[i]
        elif kind == "copy":
            lines.insert(i, lines[other % len(lines)])
        elif kind == "indent":
            lines[i] = " " * (other % 9) + lines[i].lstrip()
    return "\n".join(lines)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(st.sampled_from(EXAMPLES), EDITS)
def test_edited_examples_never_crash(example: Path, edits: list[tuple[str, int, str, int]]) -> None:
    """Small edits of real journeys (a value swapped for an odd one, a line dropped, copied
    or re-indented) either compile or report problems. Found a step name holding '{{ }}'
    and an integer beyond 2**53 crashing the compiler."""
    _assert_outcome(_edited(example.read_text(encoding="utf-8").splitlines(), edits))


def _one_step(**step: object) -> str:
    base = {"id": "a", "request": {"url": "http://127.0.0.1/", "method": "POST"}}
    return json.dumps({"journey": {"name": "fuzz", "steps": [{**base, **step}]}})


@FAST
@given(TREES)
def test_any_json_body_compiles_or_reports(body: object) -> None:
    """A body may be any value, numbers JSON cannot carry exactly included (they crashed)."""
    step = {"request": {"url": "http://127.0.0.1/", "method": "POST", "json": body}}
    _assert_outcome(_one_step(**step))


@FAST
@given(st.one_of(st.text(max_size=40), st.sampled_from(["{{ }}", "{{", "{{ steps.", "}}"])))
def test_any_step_name_compiles_or_reports(name: str) -> None:
    """A step name is literal text ('{{ }}' in one crashed the compiler)."""
    _assert_outcome(_one_step(name=name))
