"""Data files of data-driven runs (`--data`): CSV, JSON array and JSON Lines, streamed.

Owns `iter_rows()`, which yields one `DataRow` per row or record without ever holding
the whole file: CSV goes through the `csv` module line by line, JSON Lines line by
line, and a JSON array is decoded record by record with `json.JSONDecoder.raw_decode`
over a bounded buffer (the JSON readers are reqflo.runner.data_json). The format comes
from the extension (.csv, .json, .jsonl, .ndjson). A malformed file raises
`DataFileError` naming the file, line, column and row/record, at the point the
iteration reaches it.

CSV values are strings (an empty cell is ""); JSON values keep their JSON types. Typing
values to the journey's inputs is the caller's job.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from reqflo.diagnostics import DataFileError, did_you_mean
from reqflo.runner.data_json import CHUNK_CHARS as CHUNK_CHARS  # read size, for tests
from reqflo.runner.data_json import Record, json_array_records, jsonl_records
from reqflo.values import to_text

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class DataRow:
    """One row of a data file.

    `index` is 0-based; messages say "row N" / "record N" with N = index + 1. `key` is
    the value of the --data-key column, else "row-N". `line` is the 1-based line where
    the row starts.
    """

    index: int
    key: str
    values: dict[str, Any]
    line: int


_Reader = Callable[[IO[str], str, "str | None"], Iterator[Record]]


def count_rows(path: Path) -> int:
    """How many rows `iter_rows` will yield; a malformed file raises DataFileError now,
    before any instance runs. Streams like `iter_rows`, so memory stays flat."""
    if path.suffix.lower() == ".csv" and path.is_file():
        counted = _count_csv(path)
        if counted is not None:
            return counted
    return sum(1 for _ in iter_rows(path))


def _count_csv(path: Path) -> int | None:
    """The rows of a well-formed CSV file, counted without building them; None on any
    problem, which the full pass then reports exactly as `iter_rows` would."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)
            width = len(_csv_header(reader, str(path))[0])  # the same header rules
            count = 0
            for fields in reader:
                if fields and len(fields) != width:
                    return None
                count += bool(fields)
            return count
    except (DataFileError, csv.Error, UnicodeDecodeError, OSError):
        return None


def iter_rows(path: Path, data_key: str | None = None) -> Iterator[DataRow]:
    """The rows of a .csv, .json or .jsonl/.ndjson file, streamed.

    An unsupported extension or a missing file raises DataFileError at once; a malformed
    row raises it when the iteration reaches that row.
    """
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise DataFileError(
            f"{path}: unsupported data file type '{path.suffix or '(no extension)'}'; "
            "use .csv, .json (an array of objects), .jsonl or .ndjson (one object per line)"
        )
    if not path.is_file():
        reason = "is a directory" if path.is_dir() else "no such file"
        raise DataFileError(f"{path}: cannot read the data file: {reason}")
    return _rows(path, reader, data_key)


def _rows(path: Path, reader: _Reader, data_key: str | None) -> Iterator[DataRow]:
    name = str(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            for index, record in enumerate(reader(handle, name, data_key)):
                key = _row_key(record, data_key, index)
                yield DataRow(index, key, record.values, record.line)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from exc
    except OSError as exc:
        raise DataFileError(f"{name}: cannot read the data file: {exc.strerror or exc}") from exc


def _not_utf8(path: Path, error: UnicodeDecodeError) -> DataFileError:
    """Locate the first byte that is not UTF-8 (a second, line-by-line binary pass)."""
    with path.open("rb") as raw:
        for line_number, line in enumerate(raw, start=1):
            try:
                (line.removeprefix(BOM) if line_number == 1 else line).decode("utf-8")
            except UnicodeDecodeError as exc:
                return DataFileError(
                    f"{path}:{line_number}: byte {exc.start + 1} of the line is not UTF-8 "
                    f"({exc.reason}); save the file as UTF-8"
                )
    return DataFileError(f"{path}: the file is not UTF-8 text ({error.reason})")


def _row_key(record: Record, data_key: str | None, index: int) -> str:
    if data_key is None:
        return f"row-{index + 1}"
    if data_key not in record.values:
        raise DataFileError(
            f"{record.where}: {record.label} has no '{data_key}' field for --data-key"
            + _available("fields", data_key, record.values)
        )
    value = record.values[data_key]
    if value is None or value == "" or isinstance(value, dict | list):
        shown = "an empty" if value in (None, "") else "a non-scalar"
        raise DataFileError(
            f"{record.where}: {record.label} has {shown} '{data_key}' value; "
            "--data-key needs a text or number in every row"
        )
    return to_text(value)


def _available(noun: str, wanted: str, names: Any) -> str:
    listed = ", ".join(str(n) for n in names) or "none"
    hint = did_you_mean(wanted, [str(n) for n in names])
    return f" ({noun}: {listed})" + (f"; {hint}" if hint else "")


# ------------------------------------------------------------------------------ CSV


def _csv_records(handle: IO[str], name: str, data_key: str | None) -> Iterator[Record]:
    reader = csv.reader(handle, strict=True)
    header, header_line = _csv_header(reader, name)
    if data_key is not None and data_key not in header:
        raise DataFileError(
            f"{name}:{header_line}: --data-key column '{data_key}' is not in the header"
            + _available("columns", data_key, header)
        )
    number, previous_end = 0, reader.line_num
    while (fields := _next_csv_row(reader, name)) is not None:
        line, previous_end = previous_end + 1, reader.line_num
        if not fields:
            continue
        number += 1
        if len(fields) != len(header):
            raise DataFileError(
                f"{name}:{line}: row {number} has {len(fields)} fields, the header has "
                f"{len(header)} (columns: {', '.join(header)})"
            )
        yield Record(
            line, f"{name}:{line}", f"row {number}", dict(zip(header, fields, strict=True))
        )


def _next_csv_row(reader: Any, name: str) -> list[str] | None:
    try:
        row: list[str] = next(reader)
    except StopIteration:
        return None
    except csv.Error as exc:
        raise DataFileError(f"{name}:{reader.line_num}: malformed CSV: {exc}") from exc
    return row


def _csv_header(reader: Any, name: str) -> tuple[list[str], int]:
    fields: list[str] | None = []
    while fields == []:
        fields = _next_csv_row(reader, name)
    if fields is None:
        raise DataFileError(f"{name}: the file is empty; a CSV data file starts with a header row")
    line = reader.line_num
    header = [field.strip() for field in fields]
    seen: set[str] = set()
    for position, column in enumerate(header, start=1):
        if not column:
            raise DataFileError(f"{name}:{line}: column {position} of the header has no name")
        if column in seen:
            raise DataFileError(f"{name}:{line}: column '{column}' appears twice in the header")
        seen.add(column)
    return header, line


# ------------------------------------------------------------------------ JSON Lines


_READERS: dict[str, _Reader] = {
    ".csv": _csv_records,
    ".json": json_array_records,
    ".jsonl": jsonl_records,
    ".ndjson": jsonl_records,
}
