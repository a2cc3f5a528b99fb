"""Data files of data-driven runs (`--data`): CSV, JSON array and JSON Lines, streamed.

Owns `iter_rows()`, which yields one `DataRow` per row or record without ever holding
the whole file: CSV goes through the `csv` module line by line, JSON Lines line by
line, and a JSON array is decoded record by record with `json.JSONDecoder.raw_decode`
over a bounded buffer. The format comes from the extension (.csv, .json, .jsonl,
.ndjson). A malformed file raises `DataFileError` naming the file, line, column and
row/record, at the point the iteration reaches it.

CSV values are strings (an empty cell is ""); JSON values keep their JSON types. Typing
values to the journey's inputs is the caller's job.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from reqflo.diagnostics import DataFileError, did_you_mean
from reqflo.values import to_text

CHUNK_CHARS = 64 * 1024
MAX_RECORD_CHARS = 64 * 1024 * 1024
BOM = b"\xef\xbb\xbf"
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET_OR_QUOTE = re.compile(r'["{}\[\]]')
_SCALAR_END = re.compile(r"[\s,\]}]")
_CLOSER = {"{": "}", "[": "]"}


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


@dataclass(frozen=True)
class _Record:
    line: int
    where: str  # "file:line" or "file:line:column", the prefix of messages
    label: str  # "row 6" or "record 6"
    values: dict[str, Any]


_Reader = Callable[[IO[str], str, "str | None"], Iterator[_Record]]


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


def _row_key(record: _Record, data_key: str | None, index: int) -> str:
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


def _csv_records(handle: IO[str], name: str, data_key: str | None) -> Iterator[_Record]:
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
        yield _Record(
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


def _jsonl_records(handle: IO[str], name: str, data_key: str | None) -> Iterator[_Record]:
    number = 0
    for line, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        number += 1
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFileError(
                f"{name}:{line}:{exc.colno}: invalid JSON in record {number}: {exc.msg}"
            ) from exc
        where = f"{name}:{line}:{len(text) - len(text.lstrip()) + 1}"
        yield _Record(line, where, f"record {number}", _as_object(value, where, number))


def _as_object(value: Any, where: str, number: int) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise DataFileError(
        f"{where}: record {number} is {_json_type(value)}, expected an object (one field per input)"
    )


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "null" if value is None else "a number"


# ------------------------------------------------------------------------ JSON array


def _json_array_records(handle: IO[str], name: str, data_key: str | None) -> Iterator[_Record]:
    return _JsonArrayStream(handle, name).records()


class _JsonArrayStream:
    """Decodes `[ {...}, {...} ]` one record at a time from a bounded text buffer.

    `buffer[position:]` is unread text. A cursor (`cursor_*`) tracks the line and column
    of a buffer offset incrementally, so locating a record costs only the text since the
    previous one.
    """

    def __init__(self, handle: IO[str], name: str) -> None:
        self.handle, self.name = handle, name
        self.decoder = json.JSONDecoder()
        self.buffer, self.position, self.eof = "", 0, False
        self.cursor_offset, self.cursor_line, self.cursor_column = 0, 1, 1

    def records(self) -> Iterator[_Record]:
        self._open_array()
        if self._next_char() == "]":
            self._close_array()
            return
        number = 0
        while True:
            number += 1
            line, column = self._locate(self.position)
            where = f"{self.name}:{line}:{column}"
            value = self._decode(number)
            yield _Record(line, where, f"record {number}", _as_object(value, where, number))
            if not self._after_record(number):
                self._close_array()
                return

    def _open_array(self) -> None:
        char = self._next_char()
        if not char:
            raise DataFileError(f"{self.name}: the file is empty; expected a JSON array of objects")
        if char != "[":
            hint = "; for one object per line use the .jsonl extension" if char == "{" else ""
            raise self._error(f"expected a JSON array of objects, found {char!r}{hint}")
        self.position += 1

    def _after_record(self, number: int) -> bool:
        """Consume the separator after a record: True for ',' (more follow), False for ']'."""
        char = self._next_char()
        if char == "]":
            return False
        if char != ",":
            found = repr(char) if char else "the end of the file"
            raise self._error(f"expected ',' or ']' after record {number}, found {found}")
        self.position += 1
        if self._next_char() == "]":
            raise self._error(f"a trailing comma after record {number} is not valid JSON")
        return True

    def _close_array(self) -> None:
        self.position += 1
        if self._next_char():
            raise self._error("unexpected content after the closing ']' of the array")

    def _next_char(self) -> str:
        """Skip whitespace (reading more as needed); the next character, "" at the end."""
        while True:
            blank = _WHITESPACE.match(self.buffer, self.position)
            self.position = blank.end() if blank else self.position
            if self.position < len(self.buffer):
                return self.buffer[self.position]
            if self.eof:
                return ""
            self._read(CHUNK_CHARS)

    def _decode(self, number: int) -> Any:
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.position)
            except json.JSONDecodeError as exc:
                if self.eof or _value_is_complete(self.buffer, self.position):
                    raise self._error(
                        f"invalid JSON in record {number}: {exc.msg}", exc.pos
                    ) from exc
                self._read_more(number)
                continue
            if end < len(self.buffer) or self.eof:
                self.position = end
                return value
            self._read_more(number)

    def _read_more(self, number: int) -> None:
        pending = len(self.buffer) - self.position
        if pending > MAX_RECORD_CHARS:
            raise self._error(
                f"record {number} is longer than {MAX_RECORD_CHARS // (1024 * 1024)} MiB "
                "characters or is never closed"
            )
        self._read(max(CHUNK_CHARS, pending))

    def _read(self, size: int) -> None:
        """Drop the consumed text (keeping the cursor right) and append up to `size` chars."""
        self._locate(self.position)
        self.buffer = self.buffer[self.position :]
        self.cursor_offset -= self.position
        self.position = 0
        chunk = self.handle.read(size)
        self.eof = not chunk
        self.buffer += chunk

    def _locate(self, offset: int) -> tuple[int, int]:
        """(line, column) of a buffer offset at or after the cursor; moves the cursor there."""
        newlines = self.buffer.count("\n", self.cursor_offset, offset)
        if newlines:
            self.cursor_line += newlines
            self.cursor_column = offset - self.buffer.rfind("\n", self.cursor_offset, offset)
        else:
            self.cursor_column += offset - self.cursor_offset
        self.cursor_offset = offset
        return self.cursor_line, self.cursor_column

    def _error(self, message: str, offset: int | None = None) -> DataFileError:
        line, column = self._locate(self.position if offset is None else offset)
        return DataFileError(f"{self.name}:{line}:{column}: {message}")


def _value_is_complete(text: str, start: int) -> bool:
    """Whether the JSON value starting at `start` ends inside `text` (so a decoding error
    there is a real syntax error, not a record cut at the end of the buffer)."""
    first = text[start : start + 1]
    if first == '"':
        return _STRING.match(text, start) is not None
    if first not in _CLOSER:
        return _SCALAR_END.search(text, start) is not None
    expected: list[str] = []
    position = start
    while (match := _BRACKET_OR_QUOTE.search(text, position)) is not None:
        char, position = match.group(), match.end()
        if char == '"':
            string = _STRING.match(text, match.start())
            if string is None:
                return False
            position = string.end()
        elif char in _CLOSER:
            expected.append(_CLOSER[char])
        elif char != expected.pop():
            return True  # mismatched bracket: the error is real
        if not expected:
            return True
    return False


_READERS: dict[str, _Reader] = {
    ".csv": _csv_records,
    ".json": _json_array_records,
    ".jsonl": _jsonl_records,
    ".ndjson": _jsonl_records,
}
