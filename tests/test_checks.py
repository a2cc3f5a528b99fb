"""Outputs and assertions evaluated against plain HttpResponse data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reqflo.artifact import AssertionPlan, OutputPlan
from reqflo.checks import (
    ALL_OPERATORS,
    OPERATORS_BY_TYPE,
    Check,
    assertion_problems,
    evaluate_assertion,
    extract_output,
    loose_equals,
    output_problems,
    parse_duration_ms,
    validate_json_schema,
    validate_jsonpath,
    validate_regex,
)
from reqflo.http import HttpResponse

ORDER = {
    "order": {"id": "abc", "total": 12.5, "count": 3, "paid": True, "note": None},
    "orders": [{"id": "abc"}, {"id": "def"}],
    "tags": ["a", "b"],
}


def response(
    body: Any = ORDER,
    *,
    status: int = 200,
    headers: tuple[tuple[str, str], ...] = (),
    elapsed_ms: float = 120.0,
    cookies: dict[str, str] | None = None,
    url: str = "http://127.0.0.1:8000/orders?page=2",
) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(
        status=status,
        reason="",
        headers=(("Content-Type", "application/json"), *headers),
        body=raw,
        url=url,
        elapsed_ms=elapsed_ms,
        cookies=cookies or {},
    )


def check(
    resp: HttpResponse,
    expected: Any = None,
    outputs: dict[str, Any] | None = None,
    **plan: Any,
) -> Check:
    assertion = AssertionPlan(expected=expected, **plan)
    return evaluate_assertion(3, assertion, resp, expected, outputs or {})


def out(resp: HttpResponse, **plan: Any) -> Any:
    return extract_output(OutputPlan(name="x", **plan), resp)


# ---------------------------------------------------------------- outputs


def test_output_from_body_path_single_match_is_the_value() -> None:
    result = out(response(), source="body", path="$.order.id")
    assert (result.value, result.found, result.ok) == ("abc", True, True)


def test_output_from_body_path_several_matches_is_a_list() -> None:
    assert out(response(), source="body", path="$.orders[*].id").value == ["abc", "def"]


def test_output_from_body_path_keeps_json_types() -> None:
    assert out(response(), source="body", path="$.order.count").value == 3
    assert out(response(), source="body", path="$.order").value == ORDER["order"]


def test_output_from_body_path_without_match_is_not_found() -> None:
    result = out(response(), source="body", path="$.order.missing")
    assert not result.found and not result.ok
    assert result.reason == "$.order.missing matched nothing in the response body"


def test_output_from_non_json_body_path_says_why() -> None:
    result = out(response(b"<html>oops</html>"), source="body", path="$.id")
    assert not result.found
    assert result.reason is not None and "not JSON" in result.reason


def test_output_whole_body_parsed_when_json_else_text() -> None:
    assert out(response(), source="body").value == ORDER
    assert out(response(b"plain words"), source="body").value == "plain words"


def test_output_body_regex_numbered_and_named_groups() -> None:
    resp = response(b"token=abc123; expires=60")
    assert out(resp, source="body", regex=r"token=(\w+)").value == "abc123"
    assert out(resp, source="body", regex=r"expires=(\d+)", group=1).value == "60"
    named = out(resp, source="body", regex=r"token=(?P<tok>\w+)", group="tok")
    assert named.value == "abc123"
    assert out(resp, source="body", regex=r"token=(\w+); (\w+)", group="2").value == "expires"


def test_output_regex_without_groups_takes_the_whole_match() -> None:
    assert out(response(b"id: A-17"), source="body", regex=r"A-\d+").value == "A-17"


def test_output_regex_misses_and_bad_groups_are_reasons() -> None:
    resp = response(b"nothing here")
    assert "found no match" in out(resp, source="body", regex=r"id=(\d+)").reason
    assert "has no group 3" in out(resp, source="body", regex=r"(no)(th)", group=3).reason
    assert 'has no group "x"' in out(resp, source="body", regex=r"(no)", group="x").reason
    optional = out(resp, source="body", regex=r"nothing(X)?", group=1)
    assert "took no part" in optional.reason


def test_output_regex_applies_to_raw_body_text_not_reserialized_json() -> None:
    raw = b'{"id":   "spaced"}'
    assert out(response(raw), source="body", regex=r'"id":\s{3}"(\w+)"').value == "spaced"


def test_output_body_path_then_regex() -> None:
    result = out(response({"link": "/orders/77"}), source="body", path="$.link", regex=r"(\d+)")
    assert result.value == "77"


def test_output_from_header_is_case_insensitive_with_optional_regex() -> None:
    resp = response(headers=(("X-Request-Id", "req-9"), ("Location", "/orders/55")))
    assert out(resp, source="header", key="x-request-id").value == "req-9"
    assert out(resp, source="header", key="LOCATION", regex=r"/orders/(\d+)").value == "55"
    assert out(resp, source="header", key="X-Nope").reason == "no header 'X-Nope' in the response"


def test_output_from_status() -> None:
    assert out(response(status=201), source="status").value == 201
    assert out(response(status=201), source="status", regex=r"^(\d)").value == "2"


def test_output_from_cookie_jar_and_set_cookie_headers() -> None:
    resp = response(
        cookies={"jar": "j1"},
        headers=(("Set-Cookie", "sid=s-42; Path=/; HttpOnly"), ("set-cookie", 'q="quoted"')),
    )
    assert out(resp, source="cookie", key="jar").value == "j1"
    assert out(resp, source="cookie", key="sid").value == "s-42"
    assert out(resp, source="cookie", key="q").value == "quoted"
    assert out(resp, source="cookie", key="other").reason == "no cookie 'other' in the response"


def test_output_from_url_with_optional_regex() -> None:
    resp = response()
    assert out(resp, source="url").value == "http://127.0.0.1:8000/orders?page=2"
    assert out(resp, source="url", regex=r"page=(\d+)").value == "2"


def test_output_default_used_when_nothing_found() -> None:
    result = out(response(), source="body", path="$.nope", has_default=True, default="fallback")
    assert (result.value, result.found, result.defaulted, result.ok) == (
        "fallback",
        False,
        True,
        True,
    )
    assert result.reason == "$.nope matched nothing in the response body"


def test_output_default_of_none_is_still_a_default() -> None:
    result = out(response(), source="header", key="X-Missing", has_default=True, default=None)
    assert result.ok and result.value is None


def test_output_default_not_used_when_found() -> None:
    result = out(response(), source="body", path="$.order.id", has_default=True, default="d")
    assert result.value == "abc" and not result.defaulted


def test_output_json_null_is_found() -> None:
    result = out(response(), source="body", path="$.order.note")
    assert result.found and result.value is None


def test_output_top_level_json_string_is_not_reparsed() -> None:
    resp = response(b'"123"')
    assert out(resp, source="body", path="$").value == "123"
    assert not out(resp, source="body", path="$.a").found


# ---------------------------------------------------------------- status_code


def test_status_code_equals_passes_and_fails_with_a_plain_message() -> None:
    assert check(response(status=201), 201, type="status_code").passed
    failed = check(response(status=404), 201, type="status_code")
    assert not failed.passed
    assert failed.message == "expected status 201, got 404"
    assert (failed.actual, failed.expected, failed.index) == (404, 201, 3)


def test_status_code_compares_with_rendered_strings() -> None:
    assert check(response(status=201), "201", type="status_code").passed


@pytest.mark.parametrize(
    ("operator", "expected", "passes"),
    [
        ("lt", 400, True),
        ("lt", 200, False),
        ("gte", 200, True),
        ("gt", 200, False),
        ("lte", 199, False),
        ("in", [200, 204], True),
        ("not_in", [200, 204], False),
        ("matches", r"^2\d\d$", True),
        ("starts_with", "4", False),
        ("not_equals", 500, True),
    ],
)
def test_status_code_operators(operator: str, expected: Any, passes: bool) -> None:
    assert check(response(status=200), expected, type="status_code", operator=operator).passed is (
        passes
    )


def test_status_code_ordering_message() -> None:
    failed = check(response(status=500), 400, type="status_code", operator="lt")
    assert failed.message == "expected status < 400, got 500"


# ---------------------------------------------------------------- json_path


def test_json_path_equals_message_names_the_path() -> None:
    failed = check(response(), "abd", type="json_path", path="$.order.id")
    assert failed.message == '$.order.id: expected "abc" to equal "abd"'
    assert failed.path == "$.order.id"


def test_json_path_non_singular_query_is_always_a_list() -> None:
    one = response({"orders": [{"id": "abcd"}]})
    result = check(one, "abc", type="json_path", path="$.orders[*].id", operator="contains")
    assert result.actual == ["abcd"]
    assert not result.passed  # element membership, not substring of a lone match
    assert check(one, 1, type="json_path", path="$.orders[*]", operator="length").passed


def test_json_path_descendant_and_filter_queries() -> None:
    resp = response()
    assert check(resp, ["abc", "abc", "def"], type="json_path", path="$..id").passed
    found = check(resp, ["def"], type="json_path", path="$.orders[?@.id == 'def'].id")
    assert found.passed


def test_json_path_absent_counts_for_exists_and_fails_other_operators() -> None:
    resp = response()
    assert check(resp, type="json_path", path="$.order.nope", operator="not_exists").passed
    exists = check(resp, type="json_path", path="$.order.nope", operator="exists")
    assert exists.message == "$.order.nope: expected to exist, but matched nothing"
    equals = check(resp, 1, type="json_path", path="$.order.nope", operator="not_equals")
    assert not equals.passed
    assert equals.message == "$.order.nope matched nothing (expected it not to equal 1)"
    assert equals.actual is None


def test_json_path_null_value_exists() -> None:
    assert check(response(), type="json_path", path="$.order.note", operator="exists").passed
    present = check(response(), type="json_path", path="$.order.note", operator="not_exists")
    assert present.message == "$.order.note: expected not to exist, but found null"


def test_json_path_on_non_json_body_fails_with_reason() -> None:
    failed = check(response(b"<html>"), "x", type="json_path", path="$.id")
    assert not failed.passed
    assert failed.message.startswith("$.id: response body is not JSON")


def test_json_path_invalid_path_fails_without_raising() -> None:
    failed = check(response(), 1, type="json_path", path="$.a[")
    assert not failed.passed and "invalid JSONPath" in failed.message


def test_json_path_missing_path_fails() -> None:
    failed = check(response(), 1, type="json_path")
    assert failed.message == "json_path: json_path assertion has no path"


# ---------------------------------------------------------------- operators (via json_path)

OPERATOR_CASES = [
    ("equals", "$.order.count", 3, True),
    ("equals", "$.order.count", "3", True),
    ("equals", "$.order.total", "12.50", True),
    ("equals", "$.order.paid", "true", True),
    ("equals", "$.order.paid", 1, False),
    ("equals", "$.order.id", "ABC", False),
    (
        "equals",
        "$.order",
        {"id": "abc", "total": "12.5", "count": 3, "paid": True, "note": None},
        True,
    ),
    ("equals", "$.tags", ["a", "b"], True),
    ("equals", "$.tags", ["b", "a"], False),
    ("equals", "$.order.note", None, True),
    ("not_equals", "$.order.id", "abd", True),
    ("not_equals", "$.order.count", "3", False),
    ("exists", "$.order.id", None, True),
    ("not_exists", "$.order.id", None, False),
    ("exists", "$.order.nope", None, False),
    ("not_exists", "$.order.nope", None, True),
    ("contains", "$.order.id", "bc", True),
    ("contains", "$.order.id", "zz", False),
    ("contains", "$.tags", "b", True),
    ("contains", "$.tags", "c", False),
    ("contains", "$.order", "total", True),
    ("contains", "$.order", "price", False),
    ("not_contains", "$.tags", "c", True),
    ("not_contains", "$.order.id", "ab", False),
    ("matches", "$.order.id", r"^a.c$", True),
    ("matches", "$.order.id", r"^\d+$", False),
    ("matches", "$.order.count", r"^\d$", True),
    ("gt", "$.order.count", 2, True),
    ("gt", "$.order.count", "3", False),
    ("gte", "$.order.total", "12.5", True),
    ("gte", "$.order.total", 13, False),
    ("lt", "$.order.total", 100, True),
    ("lt", "$.order.count", 3, False),
    ("lte", "$.order.count", 3, True),
    ("lte", "$.order.count", 2.5, False),
    ("in", "$.order.id", ["abc", "x"], True),
    ("in", "$.order.count", ["3"], True),
    ("in", "$.order.id", ["x"], False),
    ("not_in", "$.order.id", ["x", "y"], True),
    ("not_in", "$.order.id", ["abc"], False),
    ("starts_with", "$.order.id", "ab", True),
    ("starts_with", "$.order.id", "bc", False),
    ("ends_with", "$.order.id", "bc", True),
    ("ends_with", "$.order.id", "ab", False),
    ("length", "$.tags", 2, True),
    ("length", "$.tags", "2", True),
    ("length", "$.order.id", 4, False),
    ("length", "$.order", {"gte": 1, "lte": 5}, True),
    ("length", "$.order", {"gt": 5}, False),
    ("is_type", "$.order.id", "string", True),
    ("is_type", "$.order.count", "integer", True),
    ("is_type", "$.order.count", "number", True),
    ("is_type", "$.order.total", "integer", False),
    ("is_type", "$.order.paid", "boolean", True),
    ("is_type", "$.tags", "array", True),
    ("is_type", "$.order", "object", True),
    ("is_type", "$.order.note", "null", True),
    ("is_type", "$.order.paid", "integer", False),
]


@pytest.mark.parametrize(("operator", "path", "expected", "passes"), OPERATOR_CASES)
def test_operator_semantics(operator: str, path: str, expected: Any, passes: bool) -> None:
    result = check(response(), expected, type="json_path", path=path, operator=operator)
    assert result.passed is passes, result.message
    assert (result.message == "") is passes


def test_every_operator_has_a_passing_and_a_failing_case() -> None:
    outcomes = {(op, passes) for op, _, _, passes in OPERATOR_CASES}
    assert outcomes == {(op, p) for op in ALL_OPERATORS for p in (True, False)}


@pytest.mark.parametrize(
    ("operator", "path", "expected", "message"),
    [
        ("gt", "$.order.id", 5, '$.order.id: cannot compare "abc" with 5: not both numbers'),
        ("contains", "$.order.count", 3, "$.order.count: cannot look inside integer 3"),
        ("contains", "$.order.id", ["a"], '$.order.id: cannot look for ["a"] inside "abc"'),
        ("not_contains", "$.order.count", 3, "$.order.count: cannot look inside integer 3"),
        ("in", "$.order.id", "abc", '$.order.id: expected value must be a list, got "abc"'),
        ("length", "$.order.count", 1, "$.order.count: integer 3 has no length"),
        (
            "length",
            "$.tags",
            {"about": 2},
            '$.tags: length expects a number or bounds like {gte: 1, lte: 10}, got {"about": 2}',
        ),
        ("starts_with", "$.tags", "a", '$.tags: value ["a", "b"] is not text'),
        (
            "matches",
            "$.order.id",
            "(",
            '$.order.id: invalid regular expression "(": '
            "missing ), unterminated subpattern at position 0",
        ),
        ("matches", "$.order.note", "x", "$.order.note: null is not text"),
        (
            "is_type",
            "$.order.id",
            "text",
            "$.order.id: is_type expects one of string, integer, "
            'number, boolean, array, object, null, got "text"',
        ),
    ],
)
def test_incompatible_values_fail_with_a_clear_message(
    operator: str, path: str, expected: Any, message: str
) -> None:
    result = check(response(), expected, type="json_path", path=path, operator=operator)
    assert not result.passed
    assert result.message == message


def test_ordering_compares_plain_strings_as_text() -> None:
    resp = response({"at": "2024-05-01T10:00:00Z"})
    assert check(resp, "2024-04-30T00:00:00Z", type="json_path", path="$.at", operator="gt").passed


def test_failure_messages_for_length_and_is_type() -> None:
    resp = response()
    length = check(resp, {"gte": 3, "lt": 9}, type="json_path", path="$.tags", operator="length")
    assert length.message == "$.tags: expected length >= 3 and < 9, got 2"
    kind = check(resp, "array", type="json_path", path="$.order.id", operator="is_type")
    assert kind.message == '$.order.id: expected "abc" to be of type "array" (it is string)'


# ---------------------------------------------------------------- header


def test_header_assertions() -> None:
    resp = response(headers=(("X-Rate-Limit", "100"), ("Cache-Control", "no-cache")))
    assert check(resp, "application/json", type="header", key="content-type").passed
    assert check(resp, "json", type="header", key="Content-Type", operator="contains").passed
    assert check(resp, 50, type="header", key="x-rate-limit", operator="gt").passed
    assert check(resp, type="header", key="X-Missing", operator="not_exists").passed
    failed = check(resp, "public", type="header", key="cache-control")
    assert failed.message == 'header cache-control: expected "no-cache" to equal "public"'
    assert failed.key == "cache-control"


def test_missing_header_fails_with_message() -> None:
    failed = check(response(), "x", type="header", key="X-Trace", operator="equals")
    assert failed.message == 'header X-Trace is missing (expected it to equal "x")'
    exists = check(response(), type="header", key="X-Trace", operator="exists")
    assert exists.message == "header X-Trace: expected to exist, but is missing"


def test_repeated_header_values_are_joined() -> None:
    resp = response(headers=(("Vary", "Accept"), ("vary", "Origin")))
    assert check(resp, "Accept, Origin", type="header", key="Vary").passed


# ---------------------------------------------------------------- body


def test_body_text_operators() -> None:
    resp = response(b"hello world", headers=())
    assert check(resp, "hello world", type="body").passed
    assert check(resp, "lo wo", type="body", operator="contains").passed
    assert check(resp, r"w\w+d$", type="body", operator="matches").passed
    assert check(resp, "hello", type="body", operator="starts_with").passed
    assert check(resp, 11, type="body", operator="length").passed
    failed = check(resp, "bye", type="body", operator="contains")
    assert failed.message == 'body: expected "hello world" to contain "bye"'


def test_body_equals_object_compares_parsed_json() -> None:
    resp = response(b'{"b": 2,  "a": [1, "x"]}')
    assert check(resp, {"a": [1, "x"], "b": "2"}, type="body").passed
    assert not check(resp, {"a": [1, "x"]}, type="body").passed
    assert check(resp, {"a": []}, type="body", operator="not_equals").passed


def test_body_equals_object_on_non_json_fails() -> None:
    failed = check(response(b"not json"), {"a": 1}, type="body")
    assert not failed.passed and failed.message.startswith("body: response body is not JSON")


def test_huge_actual_values_are_truncated() -> None:
    resp = response(("x" * 5000).encode())
    failed = check(resp, "y", type="body")
    assert failed.actual == "x" * 2000 + "…[truncated 3000 chars]"
    assert len(failed.message) < 300
    big = response({"items": list(range(2000))})
    listed = check(big, 1, type="json_path", path="$.items", operator="length")
    assert isinstance(listed.actual, str) and listed.actual.endswith("chars]")


# ---------------------------------------------------------------- response_time


@pytest.mark.parametrize(
    ("operator", "expected", "passes"),
    [
        ("lt", "800ms", True),
        ("lt", 100, False),
        ("lte", "1s", True),
        ("gt", "0.1s", True),
        ("gte", "2m", False),
        ("lt", "121", True),
    ],
)
def test_response_time(operator: str, expected: Any, passes: bool) -> None:
    resp = response(elapsed_ms=120.4)
    assert check(resp, expected, type="response_time", operator=operator).passed is passes


def test_response_time_messages() -> None:
    failed = check(response(elapsed_ms=950.25), "800ms", type="response_time", operator="lt")
    assert failed.message == "expected response time < 800ms, got 950.2ms"
    assert failed.expected == 800
    bad = check(response(), "soon", type="response_time", operator="lt")
    assert not bad.passed
    assert bad.message == 'response time: invalid duration "soon": expected e.g. 250ms, 5s, 2m'


# ---------------------------------------------------------------- json_schema

SCHEMA = {
    "type": "object",
    "required": ["order"],
    "properties": {
        "order": {
            "type": "object",
            "required": ["id", "count"],
            "properties": {"id": {"type": "string"}, "count": {"type": "integer"}},
        },
    },
}


def test_json_schema_passes() -> None:
    result = check(response(), type="json_schema", json_schema=SCHEMA)
    assert result.passed and result.actual is None and result.message == ""


def test_json_schema_failure_lists_errors_with_paths() -> None:
    body = {"order": {"id": 5, "count": "three"}}
    failed = check(response(body), type="json_schema", json_schema=SCHEMA)
    assert not failed.passed
    assert failed.message == (
        'body does not match the schema: $.order.count: "three" does not satisfy type: '
        '"integer"; $.order.id: 5 does not satisfy type: "string"'
    )
    assert failed.actual == [
        '$.order.count: "three" does not satisfy type: "integer"',
        '$.order.id: 5 does not satisfy type: "string"',
    ]


def test_json_schema_shows_the_first_few_errors() -> None:
    schema = {"type": "array", "items": {"type": "string"}}
    failed = check(response([1, 2, 3, 4, 5]), type="json_schema", json_schema=schema)
    assert failed.message.startswith(
        "body does not match the schema: $[0]: 1 does not satisfy type"
    )
    assert failed.message.endswith("(and 2 more)")


def test_json_schema_on_non_json_body_and_invalid_schema() -> None:
    not_json = check(response(b"<xml/>"), type="json_schema", json_schema=SCHEMA)
    assert not_json.message.startswith("body response body is not JSON")
    broken = check(response(), type="json_schema", json_schema={"type": "nonsense"})
    assert not broken.passed and "invalid JSON schema" in broken.message
    missing = check(response(), type="json_schema")
    assert missing.message == "body json_schema assertion has no schema object"


def test_json_schema_checks_formats() -> None:
    schema = {"properties": {"mail": {"format": "email"}}}
    assert not check(response({"mail": "nope"}), type="json_schema", json_schema=schema).passed


# ---------------------------------------------------------------- output


def test_output_assertions_read_extracted_outputs() -> None:
    outputs = {"token": "t-1", "count": "3"}
    assert check(
        response(), "t-", outputs, type="output", key="token", operator="starts_with"
    ).passed
    assert check(response(), 3, outputs, type="output", key="count").passed
    missing = check(response(), type="output", key="other", operator="exists")
    assert missing.message == "output other: expected to exist, but was not extracted"
    assert check(response(), None, outputs, type="output", key="gone", operator="not_exists").passed


# ---------------------------------------------------------------- loose equality


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        (201, "201", True),
        ("201", 201.0, True),
        (1.5, "1.50", True),
        ("1.0", "1", False),
        (True, "true", True),
        (False, "False", False),
        (True, 1, False),
        (0, False, False),
        (None, None, True),
        (None, "", False),
        (None, "null", False),
        ("a", "a", True),
        ({"a": 1}, {"a": "1"}, True),
        ([1, 2], ("1", 2), True),
        ([1], [1, 1], False),
        ("1" * 500, int("1" * 500), False),
        ("nan", float("nan"), False),
    ],
)
def test_loose_equality(left: Any, right: Any, equal: bool) -> None:
    assert loose_equals(left, right) is equal
    assert loose_equals(right, left) is equal


# ---------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("250ms", 250),
        ("5s", 5000),
        ("1.5s", 1500),
        ("2m", 120_000),
        ("1h", 3_600_000),
        (" 30 s ", 30_000),
        ("40", 40),
        (75, 75),
        (12.6, 13),
        (".5s", 500),
    ],
)
def test_parse_duration(text: str | int | float, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "fast", "5 days", "-1s", "1,5s", "s", -3, float("inf")])
def test_parse_duration_rejects(text: str | int | float) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration_ms(text)


def test_parse_duration_rejects_booleans() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration_ms(True)


# ---------------------------------------------------------------- static validation


def test_validate_jsonpath() -> None:
    assert validate_jsonpath("$.orders[?@.total > 10].id") is None
    assert validate_jsonpath("$.a[") == 'invalid JSONPath "$.a[": unexpected end of query'
    message = validate_jsonpath("orders.id")
    assert message is not None and message.endswith("at offset 0")


def test_validate_regex() -> None:
    assert validate_regex(r"id=(?P<id>\d+)", "id") is None
    assert validate_regex(r"id=\d+", 1) is None
    assert validate_regex(r"(a)", 2) == 'regular expression "(a)" has no group 2'
    message = validate_regex("(a")
    assert message is not None and message.startswith('invalid regular expression "(a"')


def test_validate_json_schema() -> None:
    assert validate_json_schema(SCHEMA) is None
    assert validate_json_schema([1]) == "json_schema must be an object"
    message = validate_json_schema({"type": 5})
    assert message is not None and message.startswith("invalid JSON schema at $.type")


def test_operators_by_type_cover_every_assertion_type() -> None:
    assert set(OPERATORS_BY_TYPE) == {
        "status_code",
        "json_path",
        "header",
        "body",
        "response_time",
        "json_schema",
        "output",
    }
    assert all(ops <= ALL_OPERATORS for ops in OPERATORS_BY_TYPE.values())
    assert OPERATORS_BY_TYPE["json_path"] == ALL_OPERATORS
    assert OPERATORS_BY_TYPE["response_time"] == {"gt", "gte", "lt", "lte"}


@pytest.mark.parametrize(
    ("plan", "problems"),
    [
        ({"type": "status_code", "expected": 201}, []),
        (
            {"type": "body", "operator": "gt", "expected": 1},
            [
                "operator 'gt' is not valid for body (use one of: contains, ends_with, equals, "
                "length, matches, not_contains, not_equals, starts_with)"
            ],
        ),
        ({"type": "json_path"}, ["needs a path"]),
        (
            {"type": "json_path", "path": "$[", "operator": "exists"},
            ['invalid JSONPath "$[": unexpected end of query'],
        ),
        ({"type": "header", "operator": "exists"}, ["header assertion needs a key"]),
        (
            {"type": "response_time", "operator": "lt", "expected": "fast"},
            ['invalid duration "fast": expected e.g. 250ms, 5s, 2m'],
        ),
        ({"type": "response_time", "operator": "lt", "expected": "{{ inputs.limit }}"}, []),
        (
            {"type": "output", "key": "k", "operator": "in", "expected": "a"},
            ["'in' needs a list as expected value"],
        ),
        (
            {"type": "output", "key": "k", "operator": "length", "expected": {"near": 1}},
            ['length expects a number or bounds like {gte: 1, lte: 10}, got {"near": 1}'],
        ),
        (
            {"type": "output", "key": "k", "operator": "is_type", "expected": "str"},
            ["is_type expects one of string, integer, number, boolean, array, object, null"],
        ),
        (
            {"type": "body", "operator": "matches", "expected": "[a"},
            ['invalid regular expression "[a": unterminated character set at position 0'],
        ),
        (
            {"type": "json_schema", "json_schema": {"type": 1}},
            ["invalid JSON schema at $.type: 1 is not valid under any of the given schemas"],
        ),
    ],
)
def test_assertion_problems(plan: dict[str, Any], problems: list[str]) -> None:
    assert assertion_problems(AssertionPlan(**plan)) == problems


def test_output_problems() -> None:
    assert output_problems(OutputPlan(name="t", source="body", path="$.token")) == []
    assert output_problems(OutputPlan(name="t", source="header")) == [
        "output 't' from header needs a key"
    ]
    bad = OutputPlan(name="t", source="body", path="$[", regex="(x)", group=2)
    assert output_problems(bad) == [
        'invalid JSONPath "$[": unexpected end of query',
        'regular expression "(x)" has no group 2',
    ]


# ---------------------------------------------------------------- hostile bodies


def test_bodies_nested_beyond_the_parser_fail_cleanly() -> None:
    resp = response(b"[" * 100_000 + b"]" * 100_000)
    failed = check(resp, type="json_path", path="$..a", operator="exists")
    assert failed.message.startswith("$..a: response body is not JSON")
    assert not check(resp, type="json_schema", json_schema=SCHEMA).passed
    assert out(resp, source="body").value.startswith("[[[")


def test_deep_but_parseable_bodies_fail_cleanly() -> None:
    resp = response(b"[" * 900 + b"]" * 900)
    walked = check(resp, type="json_path", path="$..a", operator="exists")
    # the body is refused as JSON once it nests deeper than reqflo.http.MAX_JSON_DEPTH:
    # deeper values also broke outputs and result serialisation (an internal error)
    assert walked.message == "$..a: response body is not JSON (it nests deeper than 128 levels)"
    schema = {"type": "array", "items": {"$ref": "#"}}
    validated = check(resp, type="json_schema", json_schema=schema)
    assert "nests deeper than 128 levels" in (validated.message or "")


@pytest.mark.parametrize(
    "ref", ["http://127.0.0.1:9/remote", "file:///etc/passwd", "#/nope", "#missing-anchor"]
)
def test_a_schema_ref_pointing_outside_it_is_refused_at_compile_time_and_never_fetched(
    ref: str,
) -> None:
    """Found by fuzzing: such a $ref raised out of the step at run time (an internal
    error); remote and file references must never be fetched."""
    schema = {"properties": {"id": {"$ref": ref}}}
    assert "does not point inside the schema" in (validate_json_schema(schema) or "")
    failed = check(response({"id": 1}), type="json_schema", json_schema=schema)
    assert failed.message is not None and "a $ref of the schema does not resolve" in failed.message


def test_refs_inside_the_schema_are_fine() -> None:
    schema = {
        "$defs": {"id": {"type": "integer"}, "a/b": {"$anchor": "named", "type": "object"}},
        "properties": {"id": {"$ref": "#/$defs/id"}, "o": {"$ref": "#named"},
                       "p": {"$ref": "#/$defs/a~1b"}, "all": {"$ref": "#"}},
    }  # fmt: skip
    assert validate_json_schema(schema) is None
