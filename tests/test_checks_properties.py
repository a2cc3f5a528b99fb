"""Properties: evaluation never raises on arbitrary response data and stays consistent."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reqflo.artifact import AssertionPlan, OutputPlan
from reqflo.checks import (
    ALL_OPERATORS,
    MAX_VALUE_CHARS,
    OPERATORS_BY_TYPE,
    evaluate_assertion,
    extract_output,
    loose_equals,
)
from reqflo.http import HttpResponse

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=64)
paths = st.sampled_from(
    ["$", "$.a", "$.a.b", "$[0]", "$[*]", "$..a", "$.a[?@ > 1]", "$['a', 'b']", "$[1:]", "$.a["]
)
assertion_types = st.sampled_from(sorted(OPERATORS_BY_TYPE))


def make_response(body: bytes, status: int = 200, elapsed: float = 10.0) -> HttpResponse:
    return HttpResponse(
        status=status,
        reason="",
        headers=(("Content-Type", "application/json"), ("X-A", "1")),
        body=body,
        url="http://127.0.0.1/",
        elapsed_ms=elapsed,
    )


@settings(max_examples=300, deadline=None)
@given(
    kind=assertion_types,
    operator=st.sampled_from(sorted(ALL_OPERATORS)),
    path=paths,
    expected=json_values,
    body=bodies,
    status=st.integers(100, 599),
)
def test_evaluate_assertion_never_raises(
    kind: str, operator: str, path: str, expected: Any, body: bytes, status: int
) -> None:
    assertion = AssertionPlan.model_validate(
        {
            "type": kind,
            "operator": operator,
            "path": path,
            "key": "a",
            "json_schema": {"type": "object"} if kind == "json_schema" else None,
        }
    )
    result = evaluate_assertion(0, assertion, make_response(body, status), expected, {"a": 1})
    assert result.passed or result.message
    assert not result.passed or result.message == ""
    if isinstance(result.actual, str):
        assert len(result.actual) <= MAX_VALUE_CHARS + 40


@settings(max_examples=200, deadline=None)
@given(path=paths, regex=st.sampled_from([None, r"(\d+)", r"a(b)?", "("]), body=bodies)
def test_extract_output_never_raises_and_default_applies(
    path: str, regex: str | None, body: bytes
) -> None:
    plan = OutputPlan(name="o", source="body", path=path, regex=regex, has_default=True, default=7)
    result = extract_output(plan, make_response(body))
    assert result.ok
    assert result.found or (result.value == 7 and result.reason)


@given(value=json_values)
def test_a_value_equals_itself_and_its_json_round_trip(value: Any) -> None:
    assert loose_equals(value, json.loads(json.dumps(value)))


@given(number=st.integers(-(10**30), 10**30) | st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_equal_their_text(number: int | float) -> None:
    assert loose_equals(number, repr(number))


@given(value=json_values, expected=json_values)
def test_not_equals_is_the_negation_of_equals(value: Any, expected: Any) -> None:
    response = make_response(json.dumps({"v": value}).encode())
    results = [
        evaluate_assertion(
            0, AssertionPlan(type="json_path", path="$.v", operator=op), response, expected, {}
        )
        for op in ("equals", "not_equals")
    ]
    assert results[0].passed is not results[1].passed


# names include python-jsonpath's keywords and function names: members, never operators
simple_paths = st.lists(
    st.sampled_from(["a", "b", "_x", "true", "null", "length", "A1", "in", "and", "keys", "count"]),
    max_size=3,
).map(lambda names: "$" + "".join(f".{name}" for name in names))
keyed_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["a", "b", "_x", "true", "in", "keys", "c"]), children, max_size=4
        )
    ),
    max_leaves=10,
)


@settings(max_examples=500, deadline=None)
@given(path=simple_paths, data=keyed_values)
def test_simple_paths_find_what_python_jsonpath_finds(path: str, data: Any) -> None:
    """`$.a.b` paths skip python-jsonpath (start-up, speed); the nodes must be the same."""
    import jsonpath

    from reqflo.checks import _find, _simple_names

    assert _simple_names(path) is not None
    query = jsonpath.compile(path, strict=True)
    expected = [data] if isinstance(data, str) and path == "$" else []
    if not isinstance(data, str):
        expected = list(query.findall(data))
    assert _find(path, data) == (expected, None)
    assert query.singular_query()


def test_other_paths_are_not_simple() -> None:
    from reqflo.checks import _simple_names

    for path in ["$[0]", "$..a", "$.a[*]", "$['a']", "$.a.", "$.1a", "$.é", "a.b", "$ .a"]:
        assert _simple_names(path) is None, path
