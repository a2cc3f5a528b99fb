"""Data files for --data: CSV, JSON array and JSON Lines, their rows, keys and errors."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from reqflo.diagnostics import DataFileError
from reqflo.runner.data import CHUNK_CHARS, DataRow, count_rows, iter_rows


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def error_of(path: Path, data_key: str | None = None) -> str:
    with pytest.raises(DataFileError) as caught:
        for _ in iter_rows(path, data_key):
            pass
    return str(caught.value)


# -------------------------------------------------------------------- happy paths


def test_csv_rows_are_strings_keyed_by_row_number(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.csv", "customer_id,quantity,note\nc-1,2,\nc-2,5,rush\n")
    assert list(iter_rows(path)) == [
        DataRow(0, "row-1", {"customer_id": "c-1", "quantity": "2", "note": ""}, 2),
        DataRow(1, "row-2", {"customer_id": "c-2", "quantity": "5", "note": "rush"}, 3),
    ]


def test_csv_tolerates_a_bom_crlf_quoted_newlines_blank_lines_and_padded_names(
    tmp_path: Path,
) -> None:
    text = '\ufeffid , note\r\n\r\na,"two\r\nlines"\r\nb,"say ""hi"""\r\n'
    rows = list(iter_rows(write(tmp_path, "rows.csv", text), "id"))
    assert [(r.index, r.key, r.line) for r in rows] == [(0, "a", 3), (1, "b", 5)]
    assert rows[0].values == {"id": "a", "note": "two\r\nlines"}
    assert rows[1].values["note"] == 'say "hi"'


def test_a_csv_with_only_a_header_has_no_rows(tmp_path: Path) -> None:
    assert list(iter_rows(write(tmp_path, "rows.csv", "a,b\n"), "a")) == []


def test_json_array_records_keep_json_types(tmp_path: Path) -> None:
    text = '[\n  {"id": 7, "qty": 2, "vip": true, "tags": ["x"]},\n  {"id": "b", "qty": null}\n]\n'
    rows = list(iter_rows(write(tmp_path, "rows.json", text), "id"))
    assert rows == [
        DataRow(0, "7", {"id": 7, "qty": 2, "vip": True, "tags": ["x"]}, 2),
        DataRow(1, "b", {"id": "b", "qty": None}, 3),
    ]


def test_an_empty_json_array_has_no_rows(tmp_path: Path) -> None:
    assert list(iter_rows(write(tmp_path, "rows.json", "\ufeff [ ]\n"))) == []


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".JSONL"])
def test_json_lines_skip_blank_lines(tmp_path: Path, suffix: str) -> None:
    text = '{"a": 1}\n\n   \n{"a": 2, "b": {"c": [1]}}\r\n'
    rows = list(iter_rows(write(tmp_path, f"rows{suffix}", text)))
    assert rows == [
        DataRow(0, "row-1", {"a": 1}, 1),
        DataRow(1, "row-2", {"a": 2, "b": {"c": [1]}}, 4),
    ]


def test_a_boolean_data_key_value_renders_as_json_text(tmp_path: Path) -> None:
    rows = iter_rows(write(tmp_path, "rows.jsonl", '{"k": true}\n{"k": 1.5}\n'), "k")
    assert [row.key for row in rows] == ["true", "1.5"]


# ----------------------------------------------------------------------- streaming


def _tricky_records(count: int) -> list[dict[str, Any]]:
    """Records whose strings hold brackets, quotes, escapes and non-ASCII text, with
    varying sizes so record boundaries fall everywhere relative to the read chunks."""
    rng = random.Random(7)
    pieces = ["a]b", '{"x"', 'q\\"}', "é\u2028", "\\", "[[", ""]
    return [
        {
            "id": f"r{i}",
            "text": "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))),
            "n": rng.random(),
            "nested": [1, {"a": [None, True]}] * rng.randint(0, 3),
            "big": 10**30 + i,
        }
        for i in range(count)
    ]


@pytest.mark.parametrize("indent", [None, 2])
def test_a_json_array_streams_across_read_chunks_exactly(
    tmp_path: Path, indent: int | None
) -> None:
    records = _tricky_records(4000)
    path = write(tmp_path, "rows.json", json.dumps(records, indent=indent))
    assert path.stat().st_size > 5 * CHUNK_CHARS
    rows = iter_rows(path, "id")
    for expected, row in zip(records, rows, strict=True):
        assert row.values == expected and row.key == expected["id"]


def test_a_record_larger_than_a_read_chunk_is_decoded(tmp_path: Path) -> None:
    records = [{"id": 1, "blob": "x" * (3 * CHUNK_CHARS)}, {"id": 2, "blob": "]" * CHUNK_CHARS}]
    path = write(tmp_path, "rows.json", json.dumps(records))
    assert [row.values for row in iter_rows(path)] == records


def test_line_numbers_stay_right_across_chunks(tmp_path: Path) -> None:
    body = ",\n".join(json.dumps({"i": i, "pad": "p" * 50}) for i in range(5000))
    path = write(tmp_path, "rows.json", "[\n" + body + "\n]")
    assert [row.line for row in iter_rows(path)] == list(range(2, 5002))


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl"])
def test_a_100k_row_file_is_iterated_without_keeping_rows(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"big{suffix}"
    with path.open("w", encoding="utf-8") as out:
        if suffix == ".csv":
            out.write("customer_id,quantity\n")
            out.writelines(f"c-{i},{i % 9 + 1}\n" for i in range(100_000))
        else:
            lines = (
                json.dumps({"customer_id": f"c-{i}", "quantity": i % 9 + 1}) for i in range(100_000)
            )
            if suffix == ".json":
                out.write("[\n" + ",\n".join(lines) + "\n]\n")
            else:
                out.writelines(line + "\n" for line in lines)
    count, last = 0, None
    for row in iter_rows(path, "customer_id"):
        count, last = count + 1, row
    assert count == 100_000
    assert last is not None and last.index == 99_999 and last.key == "c-99999"


# --------------------------------------------------------------------------- errors


def test_a_csv_row_with_the_wrong_number_of_fields(tmp_path: Path) -> None:
    text = "a,b,c\n" + "1,2,3\n" * 5 + "1,2,3,4\n"
    path = write(tmp_path, "rows.csv", text)
    assert error_of(path) == (f"{path}:7: row 6 has 4 fields, the header has 3 (columns: a, b, c)")


def test_a_csv_short_row_after_a_blank_line_counts_data_rows_only(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.csv", "a,b\n1,2\n\n3\n")
    assert error_of(path) == f"{path}:4: row 2 has 1 fields, the header has 2 (columns: a, b)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty; a CSV data file starts with a header row"),
        ("\n\n", "the file is empty; a CSV data file starts with a header row"),
        ("a,,c\n", "1: column 2 of the header has no name"),
        ("a,b,a\n", "1: column 'a' appears twice in the header"),
        ('a,b\n1,"x"y\n', "2: malformed CSV: ',' expected after '\"'"),
    ],
)
def test_malformed_csv_files(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "rows.csv", text)
    separator = "" if message[0].isdigit() else " "
    assert error_of(path) == f"{path}:{separator}{message}"


def test_a_missing_csv_data_key_lists_the_columns_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.csv", "customer_id,quantity\nc-1,2\n")
    assert error_of(path, "custmer_id") == (
        f"{path}:1: --data-key column 'custmer_id' is not in the header "
        "(columns: customer_id, quantity); did you mean 'customer_id'?"
    )
    assert error_of(path, "zzz") == (
        f"{path}:1: --data-key column 'zzz' is not in the header (columns: customer_id, quantity)"
    )


def test_an_empty_data_key_value_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.csv", "id,q\na,1\n,2\n")
    assert error_of(path, "id") == (
        f"{path}:3: row 2 has an empty 'id' value; --data-key needs a text or number in every row"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[{"a": 1},\n {"a": 2 "b": 3}\n]',
            "2:10: invalid JSON in record 2: Expecting ',' delimiter",
        ),
        ('[{"a": 1},\n {"a": 2},\n]', "3:1: a trailing comma after record 2 is not valid JSON"),
        (
            '[{"a": 1},\n 5\n]',
            "2:2: record 2 is a number, expected an object (one field per input)",
        ),
        ('[["x"]]', "1:2: record 1 is an array, expected an object (one field per input)"),
        ('[{"a": 1}\n {"a": 2}]', "2:2: expected ',' or ']' after record 1, found '{'"),
        ('[{"a": 1}', "1:10: expected ',' or ']' after record 1, found the end of the file"),
        ('[{"a": "x', "1:8: invalid JSON in record 1: Unterminated string starting at"),
        ('[{"a": 1}] {}', "1:12: unexpected content after the closing ']' of the array"),
        (
            '{"a": 1}',
            "1:1: expected a JSON array of objects, found '{'; "
            "for one object per line use the .jsonl extension",
        ),
    ],
)
def test_malformed_json_arrays_name_line_and_column(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "rows.json", text)
    assert error_of(path).startswith(f"{path}:{message}")


def test_a_json_syntax_error_deep_in_a_large_file_is_located(tmp_path: Path) -> None:
    lines = [json.dumps({"i": i, "pad": "x" * 40}) for i in range(20_000)]
    lines[15_000] = '{"i": 15000, "pad": tru}'
    path = write(tmp_path, "rows.json", "[\n" + ",\n".join(lines) + "\n]")
    assert error_of(path) == (f"{path}:15002:21: invalid JSON in record 15001: Expecting value")


def test_an_empty_json_file(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.json", "  \n")
    assert error_of(path) == f"{path}: the file is empty; expected a JSON array of objects"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1}\n{"a": 2,}\n', "2:9: invalid JSON in record 2: Expecting property name"),
        (
            '{"a": 1}\n\n  [1]\n',
            "3:3: record 2 is an array, expected an object (one field per input)",
        ),
        ('"x"\n', "1:1: record 1 is a string, expected an object (one field per input)"),
        ("null\n", "1:1: record 1 is null, expected an object (one field per input)"),
    ],
)
def test_malformed_json_lines_name_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "rows.jsonl", text)
    assert error_of(path).startswith(f"{path}:{message}")


def test_a_json_record_without_the_data_key_lists_its_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.json", '[{"id": 1}, {"idd": 2, "q": 3}]')
    assert error_of(path, "id") == (
        f"{path}:1:13: record 2 has no 'id' field for --data-key (fields: idd, q); "
        "did you mean 'idd'?"
    )
    jsonl = write(tmp_path, "rows.jsonl", '{"id": {"x": 1}}\n')
    assert error_of(jsonl, "id") == (
        f"{jsonl}:1:1: record 1 has a non-scalar 'id' value; "
        "--data-key needs a text or number in every row"
    )


def test_rows_before_an_error_are_yielded_first(tmp_path: Path) -> None:
    rows = iter_rows(write(tmp_path, "rows.jsonl", '{"a": 1}\nnope\n'))
    assert next(rows).values == {"a": 1}
    with pytest.raises(DataFileError, match=r"rows.jsonl:2:1: invalid JSON in record 2"):
        next(rows)


def test_an_unsupported_extension_is_rejected_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.txt", "a\n1\n")
    with pytest.raises(DataFileError) as caught:
        iter_rows(path)
    assert str(caught.value) == (
        f"{path}: unsupported data file type '.txt'; use .csv, .json (an array of objects), "
        ".jsonl or .ndjson (one object per line)"
    )


def test_a_missing_file_or_a_directory_is_rejected_at_once(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="cannot read the data file: no such file"):
        iter_rows(tmp_path / "absent.csv")
    folder = tmp_path / "dir.json"
    folder.mkdir()
    with pytest.raises(DataFileError, match="cannot read the data file: is a directory"):
        iter_rows(folder)


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl"])
def test_a_file_that_is_not_utf8_names_the_line_and_byte(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"rows{suffix}"
    path.write_bytes(b"\xef\xbb\xbfab\n1,2\n3,\xff\xfe\n")
    assert error_of(path) == (
        f"{path}:3: byte 3 of the line is not UTF-8 (invalid start byte); save the file as UTF-8"
    )
    path.write_bytes(b"\xef\xbb\xbfa\xffb\n")
    assert error_of(path).startswith(f"{path}:1: byte 2 of the line is not UTF-8")


def test_the_example_data_file_has_twenty_uniquely_keyed_rows() -> None:
    path = Path(__file__).resolve().parents[1] / "examples" / "data" / "orders.csv"
    rows = list(iter_rows(path, "customer_id"))
    assert len(rows) == 20 and len({row.key for row in rows}) == 20
    assert all(row.values["quantity"].isdigit() for row in rows)


@pytest.mark.parametrize(
    "text",
    [
        "a,b\n1,2\n\n3,4\n",
        '\ufeffa, b \r\n"x\ny",2\r\n',
        "a,b\n",
        "a,b\n1,2\n3\n",  # short row: the full pass raises
        "a,a\n1,2\n",  # duplicate column
        " ,b\n1,2\n",  # unnamed column
        "",  # empty file
        'a,b\n"1,2\n',  # unterminated quote
        '\n\na,b\n1,"x"y\n',  # malformed quoting
    ],
)
def test_count_rows_agrees_with_iter_rows_or_raises_the_same_error(
    tmp_path: Path, text: str
) -> None:
    """count_rows counts a CSV without building rows; a bad file gives iter_rows' error."""
    path = write(tmp_path, "rows.csv", text)
    try:
        expected: int | str = sum(1 for _ in iter_rows(path))
    except DataFileError as exc:
        expected = str(exc)
    try:
        counted: int | str = count_rows(path)
    except DataFileError as exc:
        counted = str(exc)
    assert counted == expected


@pytest.mark.parametrize("levels", [65, 5_000])  # decodable but too deep; beyond recursion
@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_record_nesting_too_deeply_is_an_error_with_its_place(
    tmp_path: Path, suffix: str, levels: int
) -> None:
    """Found by fuzzing: 5,000 levels raised RecursionError out of the reader."""
    deep = '{"a": ' * levels + "1" + "}" * levels
    record = '{"id": 1, "v": ' + deep + "}"
    path = tmp_path / f"rows{suffix}"
    lines = '{"id": 0}\n' + record + "\n"
    path.write_text(lines if suffix == ".jsonl" else f'[{{"id": 0}},\n{record}]')
    assert "record 2 nests deeper than 64 levels" in error_of(path)
    assert error_of(path).startswith(f"{path}:2:")
    shallow = '{"a": ' * 60 + "1" + "}" * 60
    path.write_text(f'[{{"v": {shallow}}}]' if suffix == ".json" else f'{{"v": {shallow}}}\n')
    assert len(list(iter_rows(path))) == 1
