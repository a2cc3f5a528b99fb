"""The template language: parsing, typed rendering, functions, rewriting."""

import base64
import re

import pytest

from reqflo.values import (
    Literal,
    Ref,
    TemplateSyntaxError,
    UnresolvedReference,
    parse_template,
    render,
    render_value,
    substitute,
)

SCOPE = {
    "inputs": {"qty": 3, "name": "Ada Lovelace", "flag": True},
    "steps": {
        "login": {
            "outputs": {"token": "t0k"},
            "status": 200,
            "headers": {"Content-Type": "application/json"},
            "body": {"items": [{"id": "a"}, {"id": "b"}], "meta": {"n": 2}},
        }
    },
}


def _render(text: str) -> object:
    return render(parse_template(text), SCOPE)


def test_single_reference_keeps_its_type() -> None:
    assert _render("{{ inputs.qty }}") == 3
    assert _render("{{ steps.login.body.items }}") == [{"id": "a"}, {"id": "b"}]
    assert _render("{{inputs.flag}}") is True


def test_text_with_references_renders_text() -> None:
    assert _render("n={{ inputs.qty }} ok={{ inputs.flag }}") == "n=3 ok=true"
    assert _render("{{ steps.login.body.meta }}!") == '{"n":2}!'


def test_paths_with_indexes_quoted_keys_and_dashes() -> None:
    assert _render("{{ steps.login.body.items[1].id }}") == "b"
    assert _render("{{ steps.login.body.items[-1]['id'] }}") == "b"
    assert _render("{{ steps.login.headers.Content-Type }}") == "application/json"


def test_functions() -> None:
    assert re.fullmatch(r"[0-9a-f-]{36}", str(_render("{{ uuid() }}")))
    assert _render("{{ base64(inputs.name) }}") == base64.b64encode(b"Ada Lovelace").decode()
    assert _render("{{ urlencode(inputs.name) }}") == "Ada%20Lovelace"
    assert 1 <= int(str(_render("{{ random_int(1, 3) }}"))) <= 3
    assert re.fullmatch(r"\d{4}", str(_render("{{ now('%Y') }}")))


def test_conditions() -> None:
    assert _render("{{ steps.login.status == 200 and not inputs.flag == false }}") is True
    assert _render("{{ inputs.qty > 5 or inputs.qty <= 3 }}") is True
    assert _render("{{ steps.login.status == '200' }}") is True


def test_missing_reference_is_a_clear_error() -> None:
    with pytest.raises(UnresolvedReference, match=r"steps.login.outputs has no 'nope'"):
        _render("{{ steps.login.outputs.nope }}")
    with pytest.raises(UnresolvedReference, match="2 items, no \\[5\\]"):
        _render("{{ steps.login.body.items[5] }}")


@pytest.mark.parametrize(
    ("text", "offset"),
    [("{{ }}", 0), ("a {{ inputs.x", 2), ("{{ inputs. }}", 11), ("{{ a b }}", 5), ("{{ f( }}", 6)],
)
def test_syntax_errors_carry_offsets(text: str, offset: int) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        parse_template(text)
    assert caught.value.offset == offset


def test_render_value_walks_structures() -> None:
    value = {"a": ["{{ inputs.qty }}", "x{{ inputs.qty }}"], "b": 1}
    assert render_value(value, SCOPE) == {"a": [3, "x3"], "b": 1}


def test_source_round_trips_and_escapes_braces() -> None:
    for text in [
        "a {{ inputs.x }} b",
        "{{ base64(concat('a', inputs.x)) }}",
        "{{ a.b[0]['c d'] }}",
    ]:
        assert parse_template(parse_template(text).source()) == parse_template(text)
    literal = substitute(parse_template("x {{ v.a }}"), lambda ref: Literal("{{"))
    assert render(parse_template(literal.source()), {}) == "x {{"


def test_substitute_replaces_references() -> None:
    template = substitute(parse_template("{{ variables.base }}/x"), lambda r: Ref("env", ("B",)))
    assert template.source() == "{{ env.B }}/x"
