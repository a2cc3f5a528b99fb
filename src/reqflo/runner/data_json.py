"""JSON data files of data-driven runs: JSON Lines line by line, a JSON array record by
record over a bounded buffer (`json.JSONDecoder.raw_decode`), neither ever holding the
whole file; a record nesting deeper than `MAX_VALUE_DEPTH` levels is refused with its place
(as journey files are; deeper would also exhaust Python's recursion).

Owns `Record` (one row or record before it becomes a `DataRow`), `jsonl_records` and
`json_array_records` (the readers reqflo.runner.data picks by extension).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from reqflo.conversion import MAX_VALUE_DEPTH, nests_deeper_than
from reqflo.diagnostics import DataFileError

CHUNK_CHARS = 64 * 1024
MAX_RECORD_CHARS = 64 * 1024 * 1024
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET_OR_QUOTE = re.compile(r'["{}\[\]]')
_SCALAR_END = re.compile(r"[\s,\]}]")
_CLOSER = {"{": "}", "[": "]"}


@dataclass(frozen=True)
class Record:
    line: int
    where: str  # "file:line" or "file:line:column", the prefix of messages
    label: str  # "row 6" or "record 6"
    values: dict[str, Any]


def jsonl_records(handle: IO[str], name: str, data_key: str | None) -> Iterator[Record]:
    number = 0
    for line, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        number += 1
        where = f"{name}:{line}:{len(text) - len(text.lstrip()) + 1}"
        try:
            value = _within_depth(json.loads(text), where, number)
        except json.JSONDecodeError as exc:
            raise DataFileError(
                f"{name}:{line}:{exc.colno}: invalid JSON in record {number}: {exc.msg}"
            ) from exc
        except RecursionError as exc:
            raise _too_deep(where, number) from exc
        yield Record(line, where, f"record {number}", _as_object(value, where, number))


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


def json_array_records(handle: IO[str], name: str, data_key: str | None) -> Iterator[Record]:
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

    def records(self) -> Iterator[Record]:
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
            yield Record(line, where, f"record {number}", _as_object(value, where, number))
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
            except RecursionError as exc:
                raise self._error(
                    f"record {number} nests deeper than {MAX_VALUE_DEPTH} levels"
                ) from exc
            except json.JSONDecodeError as exc:
                if self.eof or _value_is_complete(self.buffer, self.position):
                    raise self._error(
                        f"invalid JSON in record {number}: {exc.msg}", exc.pos
                    ) from exc
                self._read_more(number)
                continue
            if end < len(self.buffer) or self.eof:
                if nests_deeper_than(value):
                    raise self._error(_deeper(number))
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


def _within_depth(value: Any, where: str, number: int) -> Any:
    if nests_deeper_than(value):
        raise _too_deep(where, number)
    return value


def _too_deep(where: str, number: int) -> DataFileError:
    return DataFileError(f"{where}: {_deeper(number)}")


def _deeper(number: int) -> str:
    return f"record {number} nests deeper than {MAX_VALUE_DEPTH} levels"
