"""Typed conversion of run inputs and the required-input check."""

from __future__ import annotations

from typing import Any

import pytest

from reqflo.artifact import InputPlan
from reqflo.diagnostics import RunSetupError
from reqflo.runner.inputs import InputTypeError, convert_value, prepare_inputs


@pytest.mark.parametrize(
    ("value", "type_name", "expected"),
    [
        ("42", "integer", 42),
        (" -7 ", "integer", -7),
        (3.0, "integer", 3),
        ("1.5", "number", 1.5),
        ("10", "number", 10),
        (2, "number", 2),
        ("yes", "boolean", True),
        ("FALSE", "boolean", False),
        (0, "boolean", False),
        ('{"a": [1]}', "json", {"a": [1]}),
        ([1, 2], "json", [1, 2]),
        (42, "string", "42"),
        (True, "string", "true"),
        ({"a": 1}, "string", '{"a":1}'),
        ("", "string", ""),
    ],
)
def test_convert_value(value: Any, type_name: Any, expected: Any) -> None:
    converted = convert_value(value, type_name)
    assert converted == expected
    assert type(converted) is type(expected)


@pytest.mark.parametrize(
    ("value", "type_name", "fragment"),
    [
        ("4.5", "integer", "'4.5' is not an integer"),
        (True, "integer", "boolean, not an integer"),
        ("abc", "number", "'abc' is not a finite number"),
        ("nan", "number", "not a finite number"),
        (False, "number", "boolean, not a number"),
        ("maybe", "boolean", "'maybe' is not a boolean"),
        (2, "boolean", "is not a boolean"),
        ("{oops", "json", "is not valid JSON"),
        # found by fuzzing: these raised ValueError or RecursionError out of the run
        ("9" * 5000, "integer", "an integer of 5000 digits is too long"),
        ("²", "integer", "'²' is not an integer"),  # isdigit() but not int()
        ("²", "number", "is not a finite number"),
        ("9" * 5000, "json", "cannot be read"),
        ('{"a":' * 3000, "json", "nests deeper than 64 levels"),
        ("[" * 70 + "]" * 70, "json", "nests deeper than 64 levels"),
        ("[1, 1e999]", "json", "1e999 is not a finite number"),
    ],
)
def test_convert_value_rejects_what_does_not_fit(value: Any, type_name: Any, fragment: str) -> None:
    with pytest.raises(InputTypeError) as caught:
        convert_value(value, type_name)
    assert fragment in str(caught.value)


DECLARED = (
    InputPlan(name="customer_id", required=True),
    InputPlan(name="quantity", type="integer", default=1),
    InputPlan(name="note"),
)


def test_prepare_inputs_applies_defaults_types_and_passes_extras() -> None:
    prepared = prepare_inputs(DECLARED, {"customer_id": "c-42", "quantity": "3", "extra": "x"})
    assert prepared == {"customer_id": "c-42", "quantity": 3, "note": None, "extra": "x"}


def test_empty_cell_of_a_typed_input_takes_the_default() -> None:
    prepared = prepare_inputs(DECLARED, {"customer_id": "c", "quantity": ""})
    assert prepared["quantity"] == 1


def test_missing_required_input_names_it_and_the_row() -> None:
    with pytest.raises(RunSetupError) as caught:
        prepare_inputs(DECLARED, {"quantity": 2}, "row 7")
    assert caught.value.code == "missing-input"
    assert str(caught.value) == "missing required input 'customer_id' (row 7)"


def test_invalid_input_names_input_type_and_value() -> None:
    with pytest.raises(RunSetupError) as caught:
        prepare_inputs(DECLARED, {"customer_id": "c", "quantity": "many"}, "row 3")
    assert caught.value.code == "invalid-input"
    assert str(caught.value) == "input 'quantity' (integer): 'many' is not an integer (row 3)"
